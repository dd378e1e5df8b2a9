"""JSON Lines: one object per row, keys the column names, values typed as in Parquet.

Timestamps are RFC 3339 strings with the offset of the request's timezone (to the second,
like the CSV); lists are arrays, booleans and numbers are JSON's own, missing is null.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

import polars as pl

from reports_pipeline.formats.base import Chunks, FileFormat, FileOptions, local_time

RFC3339 = "%Y-%m-%dT%H:%M:%S%:z"


def encode(columns: Sequence[str], pieces: Iterable[pl.DataFrame], options: FileOptions) -> Chunks:
    for piece in pieces:
        if piece.height == 0:
            continue
        stamps = [
            local_time(pl.col(name), dtype, options.timezone).dt.strftime(RFC3339).alias(name)
            for name, dtype in piece.schema.items()
            if isinstance(dtype, pl.Datetime)
        ]
        buffer = io.BytesIO()
        piece.with_columns(stamps).write_ndjson(buffer)
        yield buffer.getvalue()


FORMAT = FileFormat(
    "jsonl",
    ".jsonl",
    "application/jsonl; charset=utf-8",
    encode,
    compressible=True,
    label="JSON Lines",
    description="JSON Lines (.jsonl)",
)
