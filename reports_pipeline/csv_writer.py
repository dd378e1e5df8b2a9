"""CSV encoding of export batches (spec/reports.md, "The CSV file").

UTF-8 with a BOM, RFC 4180 quoting, CRLF, timestamps as `YYYY-MM-DD HH:MM:SS` in the
request's timezone, booleans `true`/`false`, lists joined with `, `, and the formula guard:
a text cell starting with = + - @ tab or CR is prefixed with `'`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import polars as pl

BOM = "\ufeff".encode()
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
LIST_SEPARATOR = ", "


def guard_formula(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def guard_expr(column: pl.Expr) -> pl.Expr:
    starts = column.str.contains(r"^[=+\-@\t\r]")
    return pl.when(starts).then(pl.lit("'") + column).otherwise(column)


def header_bytes(columns: Sequence[str]) -> bytes:
    """The BOM and the header row, written even when no row matches."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([guard_formula(c) for c in columns])
    return BOM + buffer.getvalue().encode()


def encode_batch(frame: pl.DataFrame, tz: str) -> bytes:
    """Rows of one batch as CSV bytes (no header), every cell formatted per the spec."""
    if frame.height == 0:
        return b""
    cells = frame.select(
        _cell_expr(name, dtype, tz).alias(name) for name, dtype in frame.schema.items()
    )
    buffer = io.BytesIO()
    cells.write_csv(buffer, include_header=False, line_terminator="\r\n", quote_style="necessary")
    return buffer.getvalue()


def _cell_expr(name: str, dtype: pl.DataType, tz: str) -> pl.Expr:
    column = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            column = column.dt.replace_time_zone("UTC")
        return column.dt.convert_time_zone(tz).dt.strftime(TIMESTAMP_FORMAT)
    if isinstance(dtype, pl.Boolean):
        return pl.when(column).then(pl.lit("true")).when(~column).then(pl.lit("false"))
    if isinstance(dtype, pl.List):
        joined = column.list.eval(pl.element().cast(pl.String)).list.join(LIST_SEPARATOR)
        return guard_expr(pl.when(column.list.len() > 0).then(joined))
    if isinstance(dtype, pl.String):
        return guard_expr(column)
    return column
