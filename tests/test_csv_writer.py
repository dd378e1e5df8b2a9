"""The CSV encoding of every export (docs/files.md, "The CSV file")."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import polars as pl
import pytest

from reports_pipeline.formats.csv import BOM, encode_batch, header_bytes
from reports_pipeline.formats.dialect import CsvDialect

pytestmark = pytest.mark.fast  # needs no service: make test-fast


def read(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_header_starts_with_a_bom_and_ends_with_crlf() -> None:
    data = header_bytes(["Chat ID", "Name, full", "=Label"])
    assert data.startswith(BOM)
    assert data.endswith(b"\r\n")
    assert read(data) == [["Chat ID", "Name, full", "'=Label"]]


def test_commas_quotes_and_newlines_round_trip() -> None:
    frame = pl.DataFrame({"text": ["a, b", 'say "hi"', "one\ntwo", "plain"]})
    data = encode_batch(frame, "UTC")
    assert data.count(b"\r\n") == 4
    assert [row[0] for row in read(data)] == ["a, b", 'say "hi"', "one\ntwo", "plain"]


def test_cells_that_could_start_a_formula_are_prefixed() -> None:
    values = ["=1+1", "+91 98", "-2", "@SUM(A1)", "\tx", "\rx", "ok=", "safe"]
    rows = read(encode_batch(pl.DataFrame({"v": values}), "UTC"))
    assert [r[0] for r in rows] == [
        "'=1+1",
        "'+91 98",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "ok=",
        "safe",
    ]


def test_numbers_are_not_text_and_stay_unguarded() -> None:
    rows = read(encode_batch(pl.DataFrame({"n": [-5, 3]}), "UTC"))
    assert rows == [["-5"], ["3"]]


def test_timestamps_are_written_in_the_request_timezone() -> None:
    instant = datetime(2026, 10, 31, 20, 0, 0, tzinfo=UTC)
    frame = pl.DataFrame({"id": [1, 2], "at": [instant, None]})
    assert read(encode_batch(frame, "Asia/Kolkata")) == [["1", "2026-11-01 01:30:00"], ["2", ""]]
    assert read(encode_batch(frame, "America/New_York")) == [
        ["1", "2026-10-31 16:00:00"],
        ["2", ""],
    ]


def test_booleans_lists_and_missing_values() -> None:
    frame = pl.DataFrame(
        {
            "flag": [True, False, None],
            "labels": [["=x", "vip"], [], None],
            "name": [None, "", "a"],
        }
    )
    assert read(encode_batch(frame, "UTC")) == [
        ["true", "'=x, vip", ""],
        ["false", "", ""],
        ["", "", "a"],
    ]


def test_an_empty_batch_writes_nothing() -> None:
    assert encode_batch(pl.DataFrame({"a": []}), "UTC") == b""


TRICKY = ["a, b", "x; y", "tab\there", "pipe | bar", 'say "hi"', "one\ntwo", "cr\rlf", "plain"]


@pytest.mark.parametrize("line_ending", ["crlf", "lf"])
@pytest.mark.parametrize("bom", [True, False])
@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_every_dialect_reads_back_with_that_dialect(
    delimiter: str, bom: bool, line_ending: str
) -> None:
    dialect = CsvDialect(delimiter=delimiter, bom=bom, line_ending=line_ending)  # type: ignore[arg-type]
    frame = pl.DataFrame({"Text": TRICKY, "N": list(range(len(TRICKY)))})
    data = header_bytes(["Text", "Name; full"], dialect) + encode_batch(frame, "UTC", dialect)
    assert data.startswith(BOM) is bom
    text = data.decode("utf-8-sig" if bom else "utf-8")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    assert rows == [["Text", "Name; full"], *([t, str(n)] for n, t in enumerate(TRICKY))]
    # Outside quoted fields every record ends with the chosen terminator and nothing else.
    unquoted = "".join(text.split('"')[::2])
    ends = dialect.terminator
    assert unquoted.count(ends) == len(TRICKY) + 1
    if line_ending == "lf":
        assert "\r" not in unquoted
