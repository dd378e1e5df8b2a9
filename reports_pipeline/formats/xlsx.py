"""XLSX: typed cells, a bold frozen header with an autofilter, columns sized to fit, written
with XlsxWriter's constant-memory mode.

Numbers and booleans are cells of their type, timestamps are date-times in the request's
timezone (Excel keeps no zone), lists are text joined with
", ". Every text is written as a string cell, so nothing is ever evaluated as a formula.
Past `sheet_rows` data rows the rows go on in a new sheet with the same header.

Widths come from the header and the first rows of each table: wide enough that no
date-time shows as `###`, capped so one long text does not make a column a screen wide.

XlsxWriter holds only the current row in memory and keeps the sheets in temporary files;
the finished workbook (a ZIP) is assembled in a temporary file and then streamed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from reports_pipeline.formats.base import Chunks, FileFormat, FileOptions, Sheet, local_time

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
    # A sheet of a million 60-column rows is over 4 GB of XML before compression: without
    # ZIP64 the workbook cannot be closed. Python's zipfile adds the records only when needed.
    "use_zip64": True,
}
WIDTH_SAMPLE_ROWS = 1_000
MIN_WIDTH, MAX_WIDTH = 8, 60  # in characters of the default font
FILTER_BUTTON = 3  # the autofilter's drop-down covers the header's right end
NUMBER_WIDTH = 12  # General shows at most about 11 digits, rounding the rest

CellWriter = Callable[[int, int, Any], Any]


def encode(columns: Sequence[str], pieces: Iterable[pl.DataFrame], options: FileOptions) -> Chunks:
    return encode_sheets([Sheet("", options.title, columns, pieces)], options)


def encode_sheets(tables: Iterable[Sheet], options: FileOptions) -> Chunks:
    """One workbook holding each table's sheets in turn (a table past `sheet_rows` rows
    goes on in further sheets)."""
    with tempfile.TemporaryDirectory(prefix="crm-reports-xlsx-") as scratch:
        path = Path(scratch) / "export.xlsx"
        workbook = xlsxwriter.Workbook(str(path), {**WORKBOOK_OPTIONS, "tmpdir": scratch})
        styles = _Styles(
            header=workbook.add_format({"bold": True}),
            stamp=workbook.add_format({"num_format": DATETIME_FORMAT}),
        )
        for table in tables:
            _TableWriter(workbook, table, options, styles).write()
        workbook.close()
        with path.open("rb") as file:
            while chunk := file.read(READ_CHUNK):
                yield chunk


@dataclass(frozen=True)
class _Styles:
    header: Format
    stamp: Format


class _TableWriter:
    def __init__(
        self, workbook: xlsxwriter.Workbook, table: Sheet, options: FileOptions, styles: _Styles
    ) -> None:
        self.workbook, self.table, self.options, self.styles = workbook, table, options, styles
        self.widths = [_header_width(name) for name in table.columns]
        self.sheets = 0
        self.sheet, self.row = self._new_sheet(), 0

    def write(self) -> None:
        sized = False
        for piece in self.table.pieces:
            if piece.height == 0:
                continue
            cells = _cells(piece, self.options.timezone)
            if not sized:
                self._size(cells.head(WIDTH_SAMPLE_ROWS))
                sized = True
            self._write_rows(cells, piece.schema.values())
        self._finish_sheet()

    def _write_rows(self, cells: pl.DataFrame, dtypes: Iterable[pl.DataType]) -> None:
        dtypes = list(dtypes)
        writers = self._writers(dtypes)
        for values in cells.iter_rows():
            if self.row == self.options.sheet_rows:
                self._finish_sheet()
                self.sheet, self.row = self._new_sheet(), 0
                writers = self._writers(dtypes)
            self.row += 1
            for col, value in enumerate(values):
                if value is not None:
                    writers[col](self.row, col, value)

    def _writers(self, dtypes: Sequence[pl.DataType]) -> list[CellWriter]:
        return [_cell_writer(self.sheet, dtype, self.styles.stamp) for dtype in dtypes]

    def _new_sheet(self) -> Worksheet:
        self.sheets += 1
        title = self.table.title
        sheet = self.workbook.add_worksheet(
            title if self.sheets == 1 else f"{title} ({self.sheets})"
        )
        for col, name in enumerate(self.table.columns):
            sheet.write_string(0, col, name, self.styles.header)
        sheet.freeze_panes(1, 0)
        return sheet

    def _size(self, sample: pl.DataFrame) -> None:
        for col, (series, dtype) in enumerate(
            zip(sample.iter_columns(), sample.dtypes, strict=True)
        ):
            self.widths[col] = max(self.widths[col], _value_width(series, dtype))

    def _finish_sheet(self) -> None:
        if self.table.columns:
            last = len(self.table.columns) - 1
            self.sheet.autofilter(0, 0, self.row, last)
        for col, width in enumerate(self.widths):
            self.sheet.set_column(col, col, width)


def _header_width(name: str) -> int:
    # Bold text runs about a tenth wider than the default font.
    return min(MAX_WIDTH, max(MIN_WIDTH, round(len(name) * 1.1) + FILTER_BUTTON))


def _value_width(series: pl.Series, dtype: pl.DataType) -> int:
    if isinstance(dtype, pl.Datetime):
        chars = len("2000-01-01 00:00:00")
    elif dtype == pl.Boolean:
        chars = len("FALSE")
    else:
        lengths = series.cast(pl.String).str.len_chars()
        chars = int(lengths.max() or 0)  # type: ignore[arg-type]
        if dtype.is_numeric():
            chars = min(NUMBER_WIDTH, chars)
    return min(MAX_WIDTH, chars + 2)


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
    encode_sheets=encode_sheets,
)
