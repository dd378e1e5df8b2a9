"""What every file format declares: its name, extension, content type and encoder.

An encoder turns the export's header and its stream of frames (pieces of at most a few
thousand rows, typed as the report type built them) into the file's bytes, as they are
ready: nothing holds the whole file in memory.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from reports_pipeline.formats.dialect import CsvDialect

# Excel's sheet holds 1,048,576 rows: one header row and this many data rows.
XLSX_SHEET_ROWS = 1_048_575

Chunks = Generator[bytes, None, None]


@dataclass(frozen=True)
class FileOptions:
    """What an encoder needs to know of the request besides the rows."""

    timezone: str = "UTC"
    title: str = "Export"  # names the XLSX sheets
    sheet_rows: int = XLSX_SHEET_ROWS
    csv: CsvDialect = CsvDialect()


Encoder = Callable[[Sequence[str], Iterable[pl.DataFrame], FileOptions], Chunks]


@dataclass(frozen=True)
class Sheet:
    """One header and its rows, in a file of several: a workbook's sheet (`title`), or a
    ZIP's file (`name`, without its extension)."""

    name: str
    title: str
    columns: Sequence[str]
    pieces: Iterable[pl.DataFrame]


SheetsEncoder = Callable[[Iterable[Sheet], FileOptions], Chunks]


@dataclass(frozen=True)
class FileFormat:
    name: str
    extension: str
    content_type: str
    encode: Encoder
    # Whether a ZIP around it is worth deflating (text), or only stores it (already packed).
    compressible: bool = False
    label: str = ""  # its short name: the API's description, the page's list
    description: str = ""  # what it is for, where the page offers it
    # A format whose one file holds several sheets (a workbook); others go in a ZIP.
    encode_sheets: SheetsEncoder | None = None


def local_time(column: pl.Expr, dtype: pl.DataType, tz: str) -> pl.Expr:
    """A timestamp column as wall-clock time in `tz` (the replica stores UTC)."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        column = column.dt.replace_time_zone("UTC")
    return column.dt.convert_time_zone(tz)


class ByteSink(io.RawIOBase):
    """A write-only, unseekable file for writers that want one (Parquet, ZIP): it keeps
    what was written since the last `drain()`, so the bytes stream on as they come."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        size = len(memoryview(data).cast("B"))
        self._buffer += data
        self._position += size
        return size

    def tell(self) -> int:
        return self._position

    def drain(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data
