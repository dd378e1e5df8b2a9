"""XLSX: typed cells, written with XlsxWriter's constant-memory mode.

Numbers and booleans are cells of their type, timestamps are date-times in the request's
timezone (Excel keeps no zone), lists are text joined with
", ". Every text is written as a string cell, so nothing is ever evaluated as a formula.
Past `sheet_rows` data rows the rows go on in a new sheet with the same header.

XlsxWriter holds only the current row in memory and keeps the sheets in temporary files;
the finished workbook (a ZIP) is assembled in a temporary file and then streamed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from reports_pipeline.formats.base import Chunks, FileFormat, FileOptions, local_time

CELL_TEXT_LIMIT = 32_767  # Excel's limit for one cell; longer texts are cut
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
READ_CHUNK = 8 * 1024 * 1024
WORKBOOK_OPTIONS = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_numbers": False,
    "strings_to_urls": False,
    "nan_inf_to_errors": True,
    "remove_timezone": True,
}

CellWriter = Callable[[int, int, Any], Any]


def encode(columns: Sequence[str], pieces: Iterable[pl.DataFrame], options: FileOptions) -> Chunks:
    with tempfile.TemporaryDirectory(prefix="crm-reports-xlsx-") as scratch:
        path = Path(scratch) / "export.xlsx"
        workbook = xlsxwriter.Workbook(str(path), {**WORKBOOK_OPTIONS, "tmpdir": scratch})
        _write(workbook, columns, pieces, options)
        workbook.close()
        with path.open("rb") as file:
            while chunk := file.read(READ_CHUNK):
                yield chunk


def _write(
    workbook: xlsxwriter.Workbook,
    columns: Sequence[str],
    pieces: Iterable[pl.DataFrame],
    options: FileOptions,
) -> None:
    stamp = workbook.add_format({"num_format": DATETIME_FORMAT})
    sheet, row = _sheet(workbook, columns, options, 1), 0
    for piece in pieces:
        if piece.height == 0:
            continue
        writers = [_cell_writer(sheet, dtype, stamp) for dtype in piece.schema.values()]
        for values in _cells(piece, options.timezone).iter_rows():
            if row == options.sheet_rows:
                sheet, row = _sheet(workbook, columns, options, len(workbook.worksheets()) + 1), 0
                writers = [_cell_writer(sheet, dtype, stamp) for dtype in piece.schema.values()]
            row += 1
            for col, value in enumerate(values):
                if value is not None:
                    writers[col](row, col, value)


def _sheet(
    workbook: xlsxwriter.Workbook, columns: Sequence[str], options: FileOptions, number: int
) -> Worksheet:
    sheet = workbook.add_worksheet(options.title if number == 1 else f"{options.title} ({number})")
    for col, name in enumerate(columns):
        sheet.write_string(0, col, name)
    sheet.freeze_panes(1, 0)
    return sheet


def _cells(piece: pl.DataFrame, tz: str) -> pl.DataFrame:
    """Values as the cells hold them: local wall-clock times, lists as text, texts cut to
    what a cell holds."""
    cells = []
    for name, dtype in piece.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            column = local_time(column, dtype, tz).dt.replace_time_zone(None)
        elif isinstance(dtype, pl.List):
            joined = column.list.eval(pl.element().cast(pl.String)).list.join(", ")
            column = pl.when(column.list.len() > 0).then(joined).str.slice(0, CELL_TEXT_LIMIT)
        elif dtype == pl.String:
            column = column.str.slice(0, CELL_TEXT_LIMIT)
        cells.append(column.alias(name))
    return piece.select(cells)


def _cell_writer(sheet: Worksheet, dtype: pl.DataType, stamp: Any) -> CellWriter:
    if isinstance(dtype, pl.Datetime):
        return lambda row, col, value: sheet.write_datetime(row, col, value, stamp)
    if dtype == pl.Boolean:
        return sheet.write_boolean
    if dtype.is_numeric():
        return sheet.write_number
    if dtype == pl.Null:
        return lambda *_: None
    return lambda row, col, value: sheet.write_string(row, col, str(value))


FORMAT = FileFormat(
    "xlsx",
    ".xlsx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    encode,
    label="Excel",
    description="Excel workbook (.xlsx)",
)
