"""Parquet: typed columns (timestamps in the request's timezone, integers, booleans, lists
as lists), the CSV's column names, one row group per piece as the export streams.

pyarrow's `ParquetWriter` is imported only by runs that write Parquet: it adds ~50 MB to a
run process, which CSV runs do not pay.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

import polars as pl

from reports_pipeline.formats.base import ByteSink, Chunks, FileFormat, FileOptions, local_time

COMPRESSION = "zstd"


def encode(columns: Sequence[str], pieces: Iterable[pl.DataFrame], options: FileOptions) -> Chunks:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = ByteSink()
    frames = _stable(columns, pieces, options.timezone)
    first = next(frames)
    with pq.ParquetWriter(sink, pa.table(first).schema, compression=COMPRESSION) as writer:
        for frame in itertools.chain([first], frames):
            if frame.height:
                writer.write_table(pa.table(frame))
                yield sink.drain()
    yield sink.drain()


def _stable(
    columns: Sequence[str], pieces: Iterable[pl.DataFrame], tz: str
) -> Iterator[pl.DataFrame]:
    """Every frame in the first one's schema (a file has one), timestamps in `tz`. A column
    no row gives a type (all null) is text; an export with no frame at all is all text."""
    schema: pl.Schema | None = None
    for piece in pieces:
        frame = piece.with_columns(
            local_time(pl.col(name), dtype, tz)
            for name, dtype in piece.schema.items()
            if isinstance(dtype, pl.Datetime)
        )
        if schema is None:
            schema = pl.Schema(
                {n: pl.String if d == pl.Null else d for n, d in frame.schema.items()}
            )
        yield frame.cast(schema)
    if schema is None:
        yield pl.DataFrame(schema={name: pl.String for name in columns})


FORMAT = FileFormat(
    "parquet",
    ".parquet",
    "application/vnd.apache.parquet",
    encode,
    label="Parquet",
    description="Parquet (BI, notebooks)",
)
