"""The CSV encoding of every export (docs/files.md, "The CSV file")."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import polars as pl
import pytest

from reports_pipeline.formats.csv import BOM, encode_batch, header_bytes

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
