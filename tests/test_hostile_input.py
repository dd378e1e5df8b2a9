"""Hostile request bodies: each either works as a plain value or is a 422 naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports import REPORT_TYPES
from tests.conftest import auth

BASE = "/api/wp-crm/reports/org_001"

METACHARACTERS = [
    "'; DROP TABLE reports; --",
    '" OR 1=1 --',
    ".*",
    "(a+)+$",
    "[",
    "*?",
    "%_%",
    "\\",
    "$1",
    "名前 😀",
    "\u202etxt.exe",
]


@pytest.mark.parametrize("text", METACHARACTERS)
def test_search_metacharacters_are_accepted_as_plain_text(api: TestClient, text: str) -> None:
    answer = api.post(BASE, json={"type": "contact", "filters": {"search": text}}, headers=auth())
    assert answer.status_code == 202, answer.text
    report = api.get(f"{BASE}/{answer.json()['id']}", headers=auth()).json()
    assert report["filters"] == {"search": text}


@pytest.mark.parametrize("text", METACHARACTERS)
def test_search_metacharacters_match_literally(replica: Path, text: str) -> None:
    kind = REPORT_TYPES["ticket"]
    with ReplicaReader(replica, "org_001") as reader:
        export = kind.build(reader, kind.parse_filters({"search": text}), "UTC", 10_000)
        assert sum(b.height for b in export.batches) == 0


@pytest.mark.parametrize(
    "body,loc",
    [
        ({"type": "chat", "filters": {"search": "x" * 201}}, ["filters", "search"]),
        ({"type": "chat", "filters": {"search": ""}}, ["filters", "search"]),
        ({"type": "chat", "filters": {"created": {"from": "0000-01-01"}}}, ["filters", "created"]),
        ({"type": "chat", "filters": {"created": {"from": "2026-13-40"}}}, ["filters", "created"]),
        (
            {"type": "chat", "filters": {"created": {"from": "2026-10-01T10:00:00"}}},
            ["filters", "created"],
        ),
        (
            {"type": "call_log", "filters": {"talk_duration": {"min": 10, "max": 5}}},
            ["filters", "talk_duration"],
        ),
        (
            {"type": "call_log", "filters": {"talk_duration": {"min": "NaN"}}},
            ["filters", "talk_duration"],
        ),
        ({"type": "chat", "filters": {"labels": {"values": []}}}, ["filters", "labels"]),
        (
            {"type": "chat", "filters": {"labels": {"values": list(range(1001))}}},
            ["filters", "labels"],
        ),
        (
            {"type": "chat", "filters": {"labels": {"exists": True, "require_every_value": True}}},
            ["filters", "labels"],
        ),
        (
            {"type": "chat", "filters": {"channels": {"values": ["1 OR 1=1"]}}},
            ["filters", "channels"],
        ),
        (
            {
                "type": "contact",
                "filters": {"custom_fields": [{"field": "city", "op": "regex", "value": ".*"}]},
            },
            ["filters", "custom_fields"],
        ),
        (
            {
                "type": "contact",
                "filters": {"custom_fields": [{"field": "city", "op": "in", "value": "Mumbai"}]},
            },
            ["filters", "custom_fields"],
        ),
        (
            {
                "type": "goal",
                "filters": {"trackers": [{"field": "x", "op": "eq", "value": 1}] * 51},
            },
            ["filters", "trackers"],
        ),
        ({"type": "chat", "timezone": "../../etc/passwd"}, ["timezone"]),
        ({"type": "chat", "timezone": "Mars/Olympus_Mons"}, ["timezone"]),
        ({"type": "chat", "filters": {"archived": "yes please"}}, ["filters", "archived"]),
        (
            {"type": "chat", "filters": {"archived": {"nested": {"deeper": [1, [2, [3]]]}}}},
            ["filters", "archived"],
        ),
        ({"type": "chat", "filters": []}, ["filters"]),
    ],
)
def test_impossible_values_are_422_naming_the_field(api: TestClient, body: dict, loc: list) -> None:
    answer = api.post(BASE, json=body, headers=auth())
    assert answer.status_code == 422, answer.text
    locations = [e["loc"] for e in answer.json()["detail"]]
    assert any(loc_[2 : 2 + len(loc)] == loc for loc_ in locations), locations


@pytest.mark.parametrize(
    "body",
    [
        "[" * 5_000 + "]" * 5_000,  # deeper than Python's JSON parser recurses
        b"\x00\x00\x00\x00\x00",  # no JSON text in any encoding
    ],
)
def test_a_body_that_cannot_be_decoded_is_a_422_on_the_body(
    api: TestClient, body: str | bytes
) -> None:
    answer = api.post(BASE, content=body, headers={**auth(), "content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.json() == {
        "detail": [{"type": "json_invalid", "loc": ["body"], "msg": "Body is not JSON"}],
        "code": "validation_error",
    }


def test_malformed_json_is_a_422_not_a_500(api: TestClient) -> None:
    answer = api.post(
        BASE, content=b'{"type": "chat", ', headers={**auth(), "content-type": "application/json"}
    )
    assert answer.status_code == 422
    assert answer.json()["code"] == "validation_error"


def test_unexpected_errors_are_a_500_without_internals(api: TestClient) -> None:
    table = api.app.state.job_table
    broken = table.engine
    from reports_pipeline.job_table import make_engine

    table.engine = make_engine("sqlite:////nonexistent/dir/jobs.db")
    try:
        answer = api.get(BASE, headers=auth())
    finally:
        table.engine = broken
    assert answer.status_code == 500
    body = answer.json()
    assert body["detail"] == "Internal server error"
    assert body["code"] == "internal_error" and body["request_id"]
    assert "sqlite" not in answer.text.lower() and "Traceback" not in answer.text
