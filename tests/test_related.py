"""Related sheets (`related`) of a chat export through real `export_report` runs: a ZIP of
one CSV per sheet (protected too, opened with 7-Zip) or a workbook's sheets (openpyxl),
each compared cell for cell with the standalone export of the same chats."""

from __future__ import annotations

import csv
import io
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import openpyxl
import pytest

from reports_pipeline.formats.csv import guard_formula
from tests.conftest import ORG, Exported
from tests.test_formats import TZ, same_cell, unescape

# A month of one channel's chats: some have group contacts, labels, bot sessions.
CHATS = {"created": {"from": "2025-03-01", "to": "2025-04-30"}}
EVERY_SHEET = ["contacts", "messages", "team_members", "labels", "bot_sessions"]
Rows = list[dict[str, str]]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_rows(raw: bytes) -> tuple[list[str], Rows]:
    reader = csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""))
    header = next(reader)
    return header, [dict(zip(header, row, strict=True)) for row in reader]


def listed(cells: list[str]) -> str:
    """CSV cells (each guarded against formulas) as the chat export's list cell of them."""
    unguarded = [c[1:] if c[:1] == "'" and c[1:2] in FORMULA_STARTS else c for c in cells]
    return guard_formula(", ".join(unguarded))


def files_of(raw: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def contacts_of(catalog: duckdb.DuckDBPyConnection, chat_ids: list[int]) -> set[str]:
    rows = catalog.execute(
        "SELECT DISTINCT contact_id FROM chat_contacts "
        "WHERE org_id = ? AND list_contains(?, chat_id)",
        [ORG, chat_ids],
    ).fetchall()
    return {str(contact_id) for (contact_id,) in rows}


@pytest.fixture
def bundle(export: Callable[..., Exported]) -> dict[str, bytes]:
    out = export("chat", CHATS, tz=TZ, options={"related": EVERY_SHEET})
    assert out.report.file_name and out.report.file_name.endswith(".csv.zip")
    return files_of(out.raw)


def test_a_csv_export_with_related_sheets_is_a_zip_of_the_standalone_exports(
    export: Callable[..., Exported], bundle: dict[str, bytes], catalog: duckdb.DuckDBPyConnection
) -> None:
    assert list(bundle) == ["chats.csv", *(f"{name}.csv" for name in EVERY_SHEET)]
    chats = export("chat", CHATS, tz=TZ)
    assert bundle["chats.csv"] == chats.raw and len(chats.rows) > 50
    # The message export chooses chats as the chat export does: the same file, byte for byte.
    assert bundle["messages.csv"] == export("message", CHATS, tz=TZ).raw
    # The contact export's rows of exactly the chats' contacts, in its order.
    wanted = contacts_of(catalog, [int(row["Chat ID"]) for row in chats.rows])
    every_contact = export("contact", tz=TZ)
    header, contacts = csv_rows(bundle["contacts.csv"])
    assert header == every_contact.header
    assert contacts == [row for row in every_contact.rows if row["Contact ID"] in wanted]
    assert len(contacts) > len({row["Contact ID"] for row in chats.rows if row["Contact ID"]})


def test_the_link_sheets_say_what_the_chat_rows_say(bundle: dict[str, bytes]) -> None:
    _, chats = csv_rows(bundle["chats.csv"])
    order = [row["Chat ID"] for row in chats]
    by_chat = {row["Chat ID"]: row for row in chats}
    sheets = {name: csv_rows(bundle[f"{name}.csv"])[1] for name in EVERY_SHEET[2:]}
    for name, rows in sheets.items():
        assert rows, name
        chat_ids = [row["Chat ID"] for row in rows]
        assert set(chat_ids) <= set(order)
        assert chat_ids == sorted(chat_ids, key=order.index), f"{name} in the chats' order"
    members: dict[str, list[dict[str, str]]] = {}
    for row in sheets["team_members"]:
        members.setdefault(row["Chat ID"], []).append(row)
    labels: dict[str, list[str]] = {}
    for row in sheets["labels"]:
        labels.setdefault(row["Chat ID"], []).append(row["Label"])
    sessions: dict[str, list[dict[str, str]]] = {}
    for row in sheets["bot_sessions"]:
        sessions.setdefault(row["Chat ID"], []).append(row)
    for chat_id, chat in by_chat.items():
        assigned = members.get(chat_id, [])
        primary = [m["Name"] for m in assigned if m["Primary Assignee"] == "true"]
        assert primary == ([chat["Assignee Name"]] if chat["Assignee Name"] else [])
        # The chat lists its assignees by member id, its labels by label id.
        by_id = sorted(assigned, key=lambda m: int(m["Member ID"]))
        assert listed([m["Name"] for m in by_id if m["Name"]]) == chat["All Assignees"]
        assert listed(labels.get(chat_id, [])) == chat["Labels"]
        latest = sessions.get(chat_id, [])[-1:]
        shown = [f"{s['Journey']} ({s['Status']})" for s in latest]
        assert shown == ([chat["Bot Session"]] if chat["Bot Session"] else [])


def test_a_workbook_holds_the_related_rows_as_sheets_after_the_chats(
    export: Callable[..., Exported], bundle: dict[str, bytes]
) -> None:
    out = export("chat", CHATS, tz=TZ, file_format="xlsx", options={"related": EVERY_SHEET})
    assert out.report.file_name and out.report.file_name.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(out.raw))
    titles = ["Chat", "Contacts", "Messages", "Team Members", "Labels", "Bot Sessions"]
    assert book.sheetnames == titles
    for sheet, file in zip(book.worksheets, bundle.values(), strict=True):
        header, rows = csv_rows(file)
        cells = list(sheet.iter_rows(values_only=True))
        assert list(cells[0]) == header and len(cells) == len(rows) + 1
        for expected, row in zip(rows, cells[1:], strict=True):
            for name, typed in zip(header, row, strict=False):
                cell = unescape(typed)
                assert same_cell(expected[name], cell), (sheet.title, name, expected[name], cell)
        assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref


def test_a_protected_export_with_related_sheets_is_one_aes_zip_of_them(
    export: Callable[..., Exported], bundle: dict[str, bytes], tmp_path: Path
) -> None:
    password = "correct horse battery"
    out = export("chat", CHATS, tz=TZ, password=password, options={"related": EVERY_SHEET})
    assert out.report.file_name and out.report.file_name.endswith(".csv.zip")
    (tmp_path / "bundle.zip").write_bytes(out.raw)
    refused = subprocess.run(
        ["7zz", "x", "-pwrong", f"-o{tmp_path / 'no'}", str(tmp_path / "bundle.zip")],
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    assert refused.returncode != 0
    subprocess.run(
        ["7zz", "x", f"-p{password}", f"-o{tmp_path / 'out'}", str(tmp_path / "bundle.zip")],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    opened = {path.name: path.read_bytes() for path in (tmp_path / "out").iterdir()}
    assert opened == bundle


def test_related_sheets_follow_the_chats_a_column_choice_leaves_without_keys(
    export: Callable[..., Exported], bundle: dict[str, bytes]
) -> None:
    chosen = {"related": ["labels"], "columns": ["Created At", "Labels"]}
    files = files_of(export("chat", CHATS, tz=TZ, options=chosen).raw)
    assert list(files) == ["chats.csv", "labels.csv"]
    assert csv_rows(files["chats.csv"])[0] == ["Created At", "Labels"]
    assert files["labels.csv"] == bundle["labels.csv"]


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_an_export_of_no_chat_has_every_sheet_with_its_header(
    export: Callable[..., Exported], file_format: str
) -> None:
    nothing = {"created": {"from": "1990-01-01", "to": "1990-01-02"}}
    out = export("chat", nothing, file_format=file_format, options={"related": EVERY_SHEET})
    assert out.report.row_count == 0
    files = files_of(out.raw)
    assert len(files) == 6 and all(name.endswith(f".{file_format}") for name in files)
    if file_format == "csv":
        assert csv_rows(files["team_members.csv"]) == (
            ["Chat ID", "Member ID", "Name", "Email", "Role", "Primary Assignee"],
            [],
        )
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(files["messages.parquet"]))
        assert table.num_rows == 0 and "Message ID" in table.schema.names
