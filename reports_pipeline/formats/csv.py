"""The CSV file: encoding of export batches.

UTF-8 with a BOM, RFC 4180 quoting, CRLF (a request's `csv` dialect may choose another
delimiter, no BOM or LF line ends), timestamps as `YYYY-MM-DD HH:MM:SS` in the
request's timezone, booleans `true`/`false`, lists joined with `, `, and the formula guard:
a text cell starting with = + - @ tab or CR is prefixed with `'`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

import polars as pl

from reports_pipeline.formats.base import Chunks, FileFormat, FileOptions, local_time
from reports_pipeline.formats.dialect import CsvDialect

DEFAULT = CsvDialect()

BOM = "\ufeff".encode()
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
LIST_SEPARATOR = ", "


def guard_formula(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def guard_expr(column: pl.Expr) -> pl.Expr:
    starts = column.str.contains(r"^[=+\-@\t\r]")
    return pl.when(starts).then(pl.lit("'") + column).otherwise(column)


def header_bytes(columns: Sequence[str], dialect: CsvDialect = DEFAULT) -> bytes:
    """The BOM and the header row, written even when no row matches."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=dialect.delimiter, lineterminator=dialect.terminator)
    writer.writerow([guard_formula(c) for c in columns])
    return (BOM if dialect.bom else b"") + buffer.getvalue().encode()


def encode_batch(frame: pl.DataFrame, tz: str, dialect: CsvDialect = DEFAULT) -> bytes:
    """Rows of one batch as CSV bytes (no header), every cell formatted per the spec."""
    if frame.height == 0:
        return b""
    cells = frame.select(
        _cell_expr(name, dtype, tz).alias(name) for name, dtype in frame.schema.items()
    )
    buffer = io.BytesIO()
    cells.write_csv(
        buffer,
        include_header=False,
        separator=dialect.delimiter,
        line_terminator=dialect.terminator,
        quote_style="necessary",
    )
    return buffer.getvalue()


def _cell_expr(name: str, dtype: pl.DataType, tz: str) -> pl.Expr:
    column = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        return local_time(column, dtype, tz).dt.strftime(TIMESTAMP_FORMAT)
    if isinstance(dtype, pl.Boolean):
        return pl.when(column).then(pl.lit("true")).when(~column).then(pl.lit("false"))
    if isinstance(dtype, pl.List):
        joined = column.list.eval(pl.element().cast(pl.String)).list.join(LIST_SEPARATOR)
        return guard_expr(pl.when(column.list.len() > 0).then(joined))
    if isinstance(dtype, pl.String):
        return guard_expr(column)
    return column


def encode(columns: Sequence[str], pieces: Iterable[pl.DataFrame], options: FileOptions) -> Chunks:
    yield header_bytes(columns, options.csv)
    for piece in pieces:
        yield encode_batch(piece, options.timezone, options.csv)


FORMAT = FileFormat(
    "csv",
    ".csv",
    "text/csv; charset=utf-8",
    encode,
    compressible=True,
    label="CSV",
    description="CSV (Excel, any tool)",
)
