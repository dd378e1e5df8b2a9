"""Parquet: typed columns (timestamps in the request's timezone, integers, booleans, lists
as lists), the CSV's column names, one row group per piece as the export streams.

Written with the types every mainstream reader takes: text as `large_string` (not Arrow's
newer `string_view`) and counts as signed 64-bit integers (not `uint32`), which Spark 3
and older pandas and pyarrow do not read.

pyarrow's `ParquetWriter` is imported only by runs that write Parquet: it adds ~50 MB to a
run process, which CSV runs do not pay.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import polars as pl

from reports_pipeline.formats.base import ByteSink, Chunks, FileFormat, FileOptions, local_time

if TYPE_CHECKING:
    import pyarrow as pa
    from polars._typing import PolarsDataType

COMPRESSION = "zstd"


def encode(columns: Sequence[str], pieces: Iterable[pl.DataFrame], options: FileOptions) -> Chunks:
    import pyarrow.parquet as pq

    sink = ByteSink()
    frames = _stable(columns, pieces, options.timezone)
    first = next(frames)
    with pq.ParquetWriter(sink, _arrow(first).schema, compression=COMPRESSION) as writer:
        for frame in itertools.chain([first], frames):
            if frame.height:
                writer.write_table(_arrow(frame))
                yield sink.drain()
    yield sink.drain()


def _arrow(frame: pl.DataFrame) -> pa.Table:
    return frame.to_arrow(compat_level=pl.CompatLevel.oldest())


def _readable(dtype: PolarsDataType) -> pl.DataType:
    """The type a column is written as: all-null is text, unsigned is signed 64-bit."""
    dtype = dtype if isinstance(dtype, pl.DataType) else dtype()
    if dtype == pl.Null:
        return pl.String()
    if dtype.is_unsigned_integer():
        return pl.Int64()
    if isinstance(dtype, pl.List):
        return pl.List(_readable(dtype.inner))
    return dtype


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
            schema = pl.Schema({n: _readable(d) for n, d in frame.schema.items()})
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
