"""Every file format through a real `export_report` run, read back with a real consumer
(gzip, pyarrow, the json module, openpyxl; 7-Zip for protected files) and compared cell
for cell with the CSV of the same request."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import openpyxl
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from reports_pipeline.formats.csv import guard_formula
from reports_pipeline.formats.xlsx import CELL_TEXT_LIMIT
from reports_pipeline.resources import JobTableResource
from tests.conftest import Exported

TZ = "Asia/Kolkata"
CSV_TIME = "%Y-%m-%d %H:%M:%S"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
# Chats of one month: lists, booleans, floats, timestamps and custom fields, and texts
# that start like formulas (the replica's hostile names).
CHAT_FILTERS = {"created": {"from": "2025-01-01", "to": "2025-12-31"}}
Table = tuple[list[str], list[list[Any]]]


def as_csv_text(value: Any) -> str:
    """A typed cell as the CSV writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        local = value.astimezone(ZoneInfo(TZ)) if value.tzinfo else value
        return local.strftime(CSV_TIME)
    if isinstance(value, list):
        return guard_formula(", ".join(str(v) for v in value)) if value else ""
    if isinstance(value, str):
        if RFC3339.match(value):
            stamp = datetime.fromisoformat(value)
            assert stamp.utcoffset() == datetime.now(ZoneInfo(TZ)).utcoffset()
            return stamp.strftime(CSV_TIME)
        return guard_formula(value)
    return str(value)


def same_cell(csv_cell: str, typed: Any) -> bool:
    if isinstance(typed, float | int) and not isinstance(typed, bool):
        return float(csv_cell) == pytest.approx(float(typed))
    return csv_cell == as_csv_text(typed)


def assert_same_table(csv_export: Exported, table: Table) -> None:
    header, rows = table
    assert header == csv_export.header
    assert len(rows) == len(csv_export.rows) > 0
    for expected, row in zip(csv_export.rows, rows, strict=True):
        for name, typed in zip(header, row, strict=True):
            assert same_cell(expected[name], typed), (name, expected[name], typed)


@pytest.fixture
def chats_csv(export: Callable[..., Exported]) -> Exported:
    return export("chat", CHAT_FILTERS, tz=TZ)


def test_csv_gz_is_the_csv_compressed(export: Callable[..., Exported], chats_csv: Exported) -> None:
    out = export("chat", CHAT_FILTERS, tz=TZ, file_format="csv_gz")
    assert out.report.file_name and out.report.file_name.endswith(".csv.gz")
    assert gzip.decompress(out.raw) == chats_csv.raw


def test_a_chosen_dialect_is_the_csv_with_that_dialect(
    export: Callable[..., Exported], chats_csv: Exported
) -> None:
    dialect = {"delimiter": ";", "bom": False, "line_ending": "lf"}
    out = export("chat", CHAT_FILTERS, tz=TZ, file_format="csv_gz", options={"csv": dialect})
    text = gzip.decompress(out.raw).decode("utf-8")
    assert not text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";", strict=True))
    assert rows[0] == chats_csv.header
    assert [dict(zip(rows[0], r, strict=True)) for r in rows[1:]] == chats_csv.rows
    assert "\r" not in "".join(text.split('"')[::2])  # outside quoted cells


def test_parquet_has_typed_columns_and_the_csvs_cells(
    export: Callable[..., Exported], chats_csv: Exported
) -> None:
    out = export("chat", CHAT_FILTERS, tz=TZ, file_format="parquet")
    assert out.report.file_name and out.report.file_name.endswith(".parquet")
    table = pq.read_table(io.BytesIO(out.raw))
    types = dict(zip(table.schema.names, table.schema.types, strict=True))
    assert types["Chat ID"] == pa.int64()
    assert types["Created At"] == pa.timestamp("us", tz=TZ)
    assert types["High Priority"] == pa.bool_()
    assert pa.types.is_list(types["Labels"]) or pa.types.is_large_list(types["Labels"])
    assert pq.ParquetFile(io.BytesIO(out.raw)).num_row_groups > 1  # written as it streamed
    assert_same_table(
        chats_csv, (table.schema.names, [list(r.values()) for r in table.to_pylist()])
    )


# The Arrow types older readers (Spark 3, pandas < 2, pyarrow < 16) take.
MAINSTREAM = (
    pa.types.is_signed_integer,
    pa.types.is_floating,
    pa.types.is_boolean,
    pa.types.is_timestamp,
    pa.types.is_string,
    pa.types.is_large_string,
)


def mainstream(dtype: pa.DataType) -> bool:
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return mainstream(dtype.value_type)
    return any(check(dtype) for check in MAINSTREAM)


@pytest.mark.parametrize(
    ("report_type", "filters", "options"),
    [
        ("chat", CHAT_FILTERS, {}),
        ("message", {"sent": {"from": "2025-06-01", "to": "2025-06-30"}}, {}),
        ("event", {"occurred": {"from": "2025-06-01", "to": "2025-06-30"}}, {}),
        ("agent_summary", {"period": {"from": "2025-06-01", "to": "2025-06-30"}}, {}),
        ("goal", {}, {}),
    ],
)
def test_parquet_takes_types_every_mainstream_reader_reads(
    export: Callable[..., Exported],
    tmp_path: Path,
    report_type: str,
    filters: dict[str, Any],
    options: dict[str, Any],
) -> None:
    out = export(report_type, filters, tz=TZ, file_format="parquet", options=options)
    path = tmp_path / "file.parquet"
    path.write_bytes(out.raw)
    schema = pq.read_schema(path)
    odd = {n: str(t) for n, t in zip(schema.names, schema.types, strict=True) if not mainstream(t)}
    assert odd == {}
    rows = pq.read_metadata(path).num_rows
    assert rows > 0
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall() == [(rows,)]
    assert pl.read_parquet(path).height == rows


def test_jsonl_has_one_typed_object_per_row_and_the_csvs_cells(
    export: Callable[..., Exported], chats_csv: Exported
) -> None:
    out = export("chat", CHAT_FILTERS, tz=TZ, file_format="jsonl")
    assert out.report.file_name and out.report.file_name.endswith(".jsonl")
    objects = [json.loads(line) for line in out.raw.decode().splitlines()]
    assert isinstance(objects[0]["Chat ID"], int) and isinstance(objects[0]["Archived"], bool)
    assert RFC3339.match(objects[0]["Created At"])
    assert_same_table(chats_csv, (list(objects[0]), [list(o.values()) for o in objects]))


# OOXML writes control characters in text as _xHHHH_ (Excel and LibreOffice read them
# back as the characters); openpyxl leaves them escaped.
XSTRING_ESCAPE = re.compile(r"_x([0-9A-F]{4})_")


def unescape(cell: Any) -> Any:
    if isinstance(cell, str):
        return XSTRING_ESCAPE.sub(lambda m: chr(int(m[1], 16)), cell)
    return cell


def xlsx_table(raw: bytes) -> tuple[list[str], Table]:
    book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True)
    header: list[str] = []
    rows: list[list[Any]] = []
    for sheet in book.worksheets:
        cells = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert cells[0] == (header or cells[0])  # every sheet has the same header
        header = [str(c) for c in cells[0]]
        rows += [
            [unescape(c) for c in row] + [None] * (len(header) - len(row)) for row in cells[1:]
        ]
    return book.sheetnames, (header, rows)


def test_xlsx_has_typed_cells_a_presented_header_and_goes_on_in_new_sheets(
    export: Callable[..., Exported], chats_csv: Exported
) -> None:
    out = export("chat", CHAT_FILTERS, tz=TZ, file_format="xlsx", xlsx_sheet_rows=400)
    assert out.report.file_name and out.report.file_name.endswith(".xlsx")
    sheets, (header, rows) = xlsx_table(out.raw)
    assert len(sheets) == -(-len(chats_csv.rows) // 400) > 1
    assert sheets[:2] == ["Chat", "Chat (2)"]
    first = dict(zip(header, rows[0], strict=True))
    assert isinstance(first["Chat ID"], int) and isinstance(first["Archived"], bool)
    assert isinstance(first["Created At"], datetime)
    # Text that looks like a formula is a plain string cell; the CSV guards it with a quote.
    raw_texts = [
        (chats_csv.rows[i][name], cell)
        for i, row in enumerate(rows)
        for name, cell in zip(header, row, strict=True)
        if isinstance(cell, str) and cell.startswith(("=", "+", "-", "@"))
    ]
    assert raw_texts and all(csv_cell == "'" + cell for csv_cell, cell in raw_texts)
    book = openpyxl.load_workbook(io.BytesIO(out.raw))  # not read-only: sees cell data types
    assert all(c.data_type != "f" for s in book.worksheets for r in s.iter_rows() for c in r)
    assert_same_table(chats_csv, (header, rows))
    assert_presented(book, header, len(rows), 400)


def assert_presented(book: Workbook, header: list[str], row_count: int, per_sheet: int) -> None:
    """Each sheet's header is bold, frozen and filtered over its rows, and its columns are
    wide enough for the header and every date-time and number below it."""
    last = get_column_letter(len(header))
    sheet_rows = [min(per_sheet, row_count - n) for n in range(0, max(row_count, 1), per_sheet)]
    assert len(book.worksheets) == len(sheet_rows)
    for sheet, rows in zip(book.worksheets, sheet_rows, strict=True):
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == f"A1:{last}{rows + 1}"
        assert all(cell.font.b for cell in sheet[1])
        # openpyxl keeps one dimension for a run of columns of the same width.
        width_of = {
            i: dim.width
            for dim in sheet.column_dimensions.values()
            for i in range(dim.min, dim.max + 1)
        }
        widths = [width_of[i + 1] for i in range(len(header))]
        # Every header fits beside its filter button; no column is wider than a screen's third.
        assert all(len(name) + 3 <= width <= 61 for name, width in zip(header, widths, strict=True))
        for column, width in zip(sheet.iter_cols(min_row=2), widths, strict=True):
            for cell in column:
                if isinstance(cell.value, datetime):
                    assert cell.number_format == "yyyy-mm-dd hh:mm:ss" and width >= 19 + 2
                elif isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool):
                    assert cell.number_format == "General" and width >= 10


def test_a_chat_workbook_rendered_by_libreoffice_shows_every_value(
    export: Callable[..., Exported], tmp_path: Path
) -> None:
    one_month = {"created": {"from": "2025-03-01", "to": "2025-03-31"}}
    out = export("chat", one_month, tz=TZ, file_format="xlsx")
    workbook = tmp_path / "chats.xlsx"
    workbook.write_bytes(out.raw)
    profile = f"-env:UserInstallation=file://{tmp_path}/profile"
    convert = ["soffice", profile, "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path)]
    subprocess.run([*convert, str(workbook)], check=True, capture_output=True, timeout=120)
    text = subprocess.run(
        ["pdftotext", "-layout", str(tmp_path / "chats.pdf"), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # The render holds the rows' values, and none is drawn as `###` for want of width.
    assert out.report.row_count and "Chat ID" in text and "2025-03-" in text
    assert "###" not in text


def test_xlsx_keeps_hostile_message_texts(export: Callable[..., Exported]) -> None:
    csv_export = export("message", tz=TZ)
    out = export("message", tz=TZ, file_format="xlsx")
    _, (header, rows) = xlsx_table(out.raw)
    assert header == csv_export.header and len(rows) == len(csv_export.rows)
    for expected, row in zip(csv_export.rows, rows, strict=True):
        cell = dict(zip(header, row, strict=True))["Text"] or ""
        # The same text, but cut where a cell is full (Excel's limit).
        assert expected["Text"].startswith(guard_formula(cell))
        assert len(cell) == CELL_TEXT_LIMIT or guard_formula(cell) == expected["Text"]


@pytest.mark.parametrize("file_format", ["csv_gz", "parquet", "jsonl", "xlsx"])
def test_an_export_matching_nothing_is_a_valid_empty_file(
    export: Callable[..., Exported], file_format: str
) -> None:
    nothing = {"created": {"from": "1990-01-01", "to": "1990-01-02"}}
    out = export("ticket", nothing, file_format=file_format)
    assert out.report.row_count == 0
    if file_format == "csv_gz":
        assert gzip.decompress(out.raw).decode("utf-8-sig").startswith("Ticket ID,")
    elif file_format == "parquet":
        table = pq.read_table(io.BytesIO(out.raw))
        assert table.num_rows == 0 and table.schema.field("Ticket ID").type == pa.int64()
    elif file_format == "jsonl":
        assert out.raw == b""
    else:
        _, (header, rows) = xlsx_table(out.raw)
        assert header[0] == "Ticket ID" and rows == []


def seven_zip(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["7zz", *args], capture_output=True, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_a_protected_file_opens_with_its_password_and_not_without(
    export: Callable[..., Exported],
    export_job_table: JobTableResource,
    tmp_path: Path,
    file_format: str,
) -> None:
    plain = export("ticket", tz=TZ, file_format=file_format)
    out = export("ticket", tz=TZ, file_format=file_format, password="correct horse battery")
    name = out.report.file_name
    assert name and name.endswith(f".{file_format}.zip") and out.report.password_protected
    archive = tmp_path / name
    archive.write_bytes(out.raw)
    assert seven_zip("t", "-pwrong password", str(archive)).returncode != 0
    assert seven_zip("t", "-p", str(archive)).returncode != 0
    listing = seven_zip("l", "-slt", "-pcorrect horse battery", str(archive)).stdout.decode()
    assert "Method = AES-256" in listing
    # Dated when it was written, on the request zone's clock (a ZIP's times have no zone).
    (modified,) = re.findall(r"^Modified = (.+)$", listing, re.MULTILINE)
    dated = datetime.fromisoformat(modified.strip().replace(" ", "T")[:19])
    finished_at = out.report.completed_at
    assert finished_at is not None
    local = finished_at.astimezone(ZoneInfo(TZ)).replace(tzinfo=None)
    assert abs((local - dated).total_seconds()) < 120
    opened = seven_zip("x", "-pcorrect horse battery", f"-o{tmp_path / 'out'}", str(archive))
    assert opened.returncode == 0, opened.stderr
    inner = tmp_path / "out" / name.removesuffix(".zip")
    if file_format == "csv":
        assert inner.read_bytes() == plain.raw
    else:
        assert pq.read_table(inner).equals(pq.read_table(io.BytesIO(plain.raw)))
    # The password is gone from the job row once the file is written; the row says only
    # that the file is protected.
    finished = export_job_table.table.get_by_id(out.report.id)
    assert finished is not None and finished.sealed_password is None
    assert b"correct horse" not in json.dumps(finished.request).encode()
