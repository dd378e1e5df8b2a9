"""csv.gz: the CSV file, gzip-compressed as it streams."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

import polars as pl

from reports_pipeline.formats import csv
from reports_pipeline.formats.base import Chunks, FileFormat, FileOptions

GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer around the deflate stream
LEVEL = 6


def encode(columns: Sequence[str], pieces: Iterable[pl.DataFrame], options: FileOptions) -> Chunks:
    packer = zlib.compressobj(LEVEL, zlib.DEFLATED, GZIP_WBITS)
    for chunk in csv.encode(columns, pieces, options):
        if packed := packer.compress(chunk):
            yield packed
    yield packer.flush()


FORMAT = FileFormat(
    "csv_gz",
    ".csv.gz",
    "application/gzip",
    encode,
    label="CSV (gzip)",
    description="CSV, gzip-compressed (.csv.gz)",
)
