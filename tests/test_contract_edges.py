"""Odd but possible inputs get a clear answer: a 2xx, or a 4xx naming what is wrong; never
a 500. Through the real API on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.tokens import mint
from reports_pipeline.request import parse_request
from tests.conftest import SECRET, auth

BASE = "/api/wp-crm/reports/org_001"


def post(api: TestClient, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    """POST, and cancel what was accepted so the next request of the type is not limited."""
    headers = headers or auth()
    answer = api.post(BASE, json=body, headers=headers)
    if answer.status_code == 202:
        assert api.post(f"{BASE}/{answer.json()['id']}/cancel", headers=headers).status_code == 200
    return answer


def refused_at(answer: Any) -> list[list[Any]]:
    assert answer.status_code == 422, answer.text
    return [error["loc"] for error in answer.json()["detail"]]


# ------------------------------------------------------------------ date ranges


@pytest.mark.parametrize(
    "bounds",
    [
        {"from": "2025-01-01", "to": "2025-01-01T10:00:00Z"},
        {"from": "2025-01-01T10:00:00Z", "to": "2025-01-01"},
        {"from": "2025-01-01T23:59:59+00:00", "to": "2025-01-01"},
    ],
)
def test_a_range_mixing_a_date_and_a_timestamp_is_accepted(
    api: TestClient, bounds: dict[str, str]
) -> None:
    answer = post(api, {"type": "chat", "filters": {"created": bounds}})
    assert answer.status_code == 202, answer.text


def test_a_mixed_range_is_ordered_in_the_requests_timezone(api: TestClient) -> None:
    bounds = {"from": "2025-01-02", "to": "2025-01-01T20:00:00Z"}
    refused = post(api, {"type": "chat", "filters": {"created": bounds}})
    assert refused_at(refused) == [["body", "chat", "filters"]]
    assert "created: 'from' is after 'to'" in refused.json()["detail"][0]["msg"]
    # At +14:00 the 2nd of January starts at 10:00 UTC on the 1st: before 'to'.
    kiritimati = {"type": "chat", "filters": {"created": bounds}, "timezone": "Pacific/Kiritimati"}
    assert post(api, kiritimati).status_code == 202


@pytest.mark.parametrize(
    "bounds,tz",
    [
        ({"from": "0001-01-01"}, "Asia/Kolkata"),
        ({"from": "0001-01-01", "to": "9999-12-31"}, "Pacific/Kiritimati"),
        ({"to": "9999-12-31"}, "America/Los_Angeles"),
        ({"from": "0001-01-01T00:00:00+14:00"}, "UTC"),
        ({"to": "9999-12-31T23:59:59-14:00"}, "UTC"),
        ({"from": "0001-01-01T00:00:00-14:00", "to": "0001-01-01"}, "Etc/GMT+12"),
    ],
)
def test_bounds_at_the_edges_of_the_calendar_are_accepted(
    api: TestClient, bounds: dict[str, str], tz: str
) -> None:
    assert post(api, {"type": "ticket", "filters": {"created": bounds}, "timezone": tz}).is_success


@pytest.mark.parametrize(
    "value", ["2025-13-01", "10000-01-01", "2025-01-01T10:00:00", 20250101, "yesterday"]
)
def test_a_bound_that_is_not_a_date_or_an_rfc3339_timestamp_is_refused(
    api: TestClient, value: object
) -> None:
    answer = post(api, {"type": "ticket", "filters": {"created": {"from": value}}})
    assert refused_at(answer)[0][:5] == ["body", "ticket", "filters", "created", "from"]


ZONES = ["UTC", "Asia/Kolkata", "Pacific/Kiritimati", "Etc/GMT+12", "America/St_Johns"]
DAYS = st.sampled_from([date.min, date.max, date(2024, 2, 29), date(2026, 3, 8)])
OFFSETS = st.sampled_from(["Z", "+14:00", "-14:00", "+05:30", "-00:00"])
BOUNDS = st.one_of(
    DAYS.map(date.isoformat),
    st.builds(lambda d, t, o: f"{d.isoformat()}T{t.isoformat()}{o}", DAYS, st.times(), OFFSETS),
)


@pytest.fixture
def api_once(api: TestClient) -> Iterator[TestClient]:
    yield api  # hypothesis draws many cases on one app (a fixture per test, not per case)


@given(
    lo=st.none() | BOUNDS,
    hi=st.none() | BOUNDS,
    tz=st.sampled_from(ZONES),
)
@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
def test_any_pair_of_bounds_in_any_zone_is_accepted_or_refused_on_the_field(
    api_once: TestClient, lo: str | None, hi: str | None, tz: str
) -> None:
    bounds = {k: v for k, v in (("from", lo), ("to", hi)) if v is not None}
    body = {"type": "call_log", "filters": {"date": bounds}, "timezone": tz}
    answer = post(api_once, body)
    assert answer.status_code in (202, 422), answer.text
    if answer.status_code == 422:
        assert refused_at(answer)[0][:4] == ["body", "call_log", "filters", "date"] or (
            "'from' is after 'to'" in answer.text
        )
        return
    # What was accepted also compiles where the run evaluates it.
    request = parse_request(body)
    request.filters.where(request.timezone)


# ------------------------------------------------------------------ exact shapes


@pytest.mark.parametrize(
    "body,loc",
    [
        ({"type": "chat", "filters": {"archived": "true"}}, ["filters", "archived"]),
        ({"type": "chat", "filters": {"archived": 1}}, ["filters", "archived"]),
        (
            {"type": "ticket", "filters": {"assignees": {"exists": "no"}}},
            ["filters", "assignees", "exists"],
        ),
        (
            {"type": "ticket", "filters": {"statuses": {"values": ["5"]}}},
            ["filters", "statuses", "values", 0],
        ),
        (
            {"type": "call_log", "filters": {"talk_duration": {"min": "60"}}},
            ["filters", "talk_duration", "min"],
        ),
        ({"type": "chat", "timezone": "localtime"}, ["timezone"]),
        ({"type": "chat", "timezone": "posixrules"}, ["timezone"]),
        ({"type": "chat", "timezone": "posix/Asia/Kolkata"}, ["timezone"]),
        ({"type": "chat", "purpose": ""}, ["purpose"]),
    ],
)
def test_values_of_the_wrong_shape_are_refused_not_coerced(
    api: TestClient, body: dict[str, Any], loc: list[Any]
) -> None:
    prefix = ["body", body["type"], *loc]
    assert any(found[: len(prefix)] == prefix for found in refused_at(post(api, body)))


# ------------------------------------------------------------------ ids and cursors


def cursor(created_at: str, report_id: str) -> str:
    raw = json.dumps([created_at, report_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "value",
    [
        cursor("0001-01-01T00:00:00+05:00", "00000000-0000-0000-0000-000000000000"),
        cursor("9999-12-31T23:59:59-05:00", "00000000-0000-0000-0000-000000000000"),
        cursor("2026-01-01T00:00:00+00:00", "a\x00b"),
        cursor("2026-01-01T00:00:00", "00000000-0000-0000-0000-000000000000"),
        cursor("2026-01-01T00:00:00+00:00", "x" * 36),
    ],
)
def test_a_cursor_this_service_did_not_give_out_is_refused(api: TestClient, value: str) -> None:
    answer = api.get(BASE, params={"cursor": value}, headers=auth())
    assert refused_at(answer) == [["query", "cursor"]]


def test_a_cursor_from_the_list_still_works(api: TestClient) -> None:
    for kind in ("chat", "ticket"):
        assert api.post(BASE, json={"type": kind}, headers=auth()).status_code == 202
    first = api.get(BASE, params={"limit": 1}, headers=auth()).json()
    rest = api.get(BASE, params={"cursor": first["next_cursor"]}, headers=auth())
    assert rest.status_code == 200 and len(rest.json()["items"]) == 1


@pytest.mark.parametrize("suffix", ["", "/download", "/cancel"])
@pytest.mark.parametrize("report_id", ["abc%00def", "%00", "not-a-uuid", "x" * 64])
def test_an_id_that_is_no_report_id_is_simply_not_found(
    api: TestClient, suffix: str, report_id: str
) -> None:
    method = "POST" if suffix == "/cancel" else "GET"
    answer = api.request(method, f"{BASE}/{report_id}{suffix}", headers=auth())
    assert (answer.status_code, answer.json()["detail"]) == (404, "Report not found")


# ------------------------------------------------------------------ identity claims


def bearer(**claims: Any) -> dict[str, str]:
    token = mint(org_id="org_001", role="admin", secret=SECRET, **claims)
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "s" * 400},
        {"sub": "u", "name": "Ñame " * 80},
        {"sub": "u", "email": "e" * 330 + "@example.com"},
        {"sub": "ü" * 1024, "name": "n" * 1024, "email": "e" * 1012 + "@example.com"},
    ],
)
def test_long_identity_claims_are_kept_whole(api: TestClient, claims: dict[str, str]) -> None:
    headers = bearer(**claims)
    created = api.post(BASE, json={"type": "goal"}, headers=headers)
    assert created.status_code == 202, created.text
    report = api.get(f"{BASE}/{created.json()['id']}", headers=headers).json()
    assert report["requested_by"] == {
        "id": claims["sub"],
        "email": claims.get("email"),
        "name": claims.get("name"),
    }
    canceled = api.post(f"{BASE}/{report['id']}/cancel", headers=headers).json()
    assert canceled["canceled_by"] == report["requested_by"]


@pytest.mark.parametrize(
    "claims,field",
    [
        ({"sub": "u", "name": "a\x00b"}, "name"),
        ({"sub": "u\x00"}, "sub"),
        ({"sub": "u", "email": "e" * 1025}, "email"),
        ({"sub": ""}, "sub"),
    ],
)
def test_claims_no_identity_can_hold_are_refused_clearly(
    api: TestClient, claims: dict[str, str], field: str
) -> None:
    answer = api.post(BASE, json={"type": "goal"}, headers=bearer(**claims))
    assert answer.status_code == 401
    assert answer.json() == {
        "detail": "Invalid token",
        "code": "invalid_token",
        "reason": f"unusable claims: {field}",
    }


def test_an_organisation_claim_with_a_nul_is_refused(api: TestClient) -> None:
    token = mint(org_id="org_001\x00", role="admin", sub="u", secret=SECRET)
    answer = api.get("/api/wp-crm/reports/org_001%00", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401


# ------------------------------------------------------------------ bodies


def chunks(total: int, size: int = 4096) -> Iterator[bytes]:
    body = json.dumps({"type": "chat", "filters": {"search": "x" * total}}).encode()
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_an_oversized_chunked_body_is_a_413(api: TestClient) -> None:
    headers = {**auth(), "content-type": "application/json"}
    answer = api.post(BASE, content=chunks(200_000), headers=headers)
    assert "content-length" not in {k.lower() for k in answer.request.headers}
    assert (answer.status_code, answer.json()["code"]) == (413, "payload_too_large")


def test_a_small_chunked_body_goes_through(api: TestClient) -> None:
    headers = {**auth(), "content-type": "application/json"}
    answer = api.post(BASE, content=chunks(250), headers=headers)
    assert answer.status_code == 422  # a search longer than 200 characters is refused...
    answer = api.post(BASE, content=chunks(100), headers=headers)
    assert answer.status_code == 202  # ...and a shorter one is read whole


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/schedules", {"name": "a\x00b", "cron": "0 6 1 * *", "type": "chat"}, "name"),
        (
            "/schedules",
            {"name": "x", "cron": "0 6 1 * *", "type": "chat", "purpose": "\x00"},
            "purpose",
        ),
        ("", {"type": "chat", "purpose": "p\x00q"}, "purpose"),
        ("", {"type": "chat", "filters": {"search": "a\x00"}}, "search"),
    ],
)
def test_a_nul_in_any_text_is_refused_on_its_field_on_both_back_ends(
    api: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    answer = api.post(BASE + path, json=body, headers=auth())
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["detail"]
    assert error["loc"][-1] == field and "NUL" in error["msg"]


# ------------------------------------------------------------------ plain messages


@pytest.mark.parametrize(
    ("path", "body", "starts"),
    [
        (
            "",
            {"type": "chat", "filters": {"created": {"from": "2025-01-02", "to": "2025-01-01"}}},
            "'from' is after 'to'",
        ),
        (
            "/schedules",
            {"type": "ticket", "filters": {}, "name": "x", "cron": "0 0 31 2 *"},
            "this cron expression never falls on a real date",
        ),
        (
            "/schedules",
            {"type": "ticket", "filters": {}, "name": "x", "cron": "０ 6 * * *"},
            "not a cron expression of five fields (minute hour day month weekday)",
        ),
    ],
    ids=["range", "never-firing-cron", "full-width-digit"],
)
def test_a_refusal_reads_as_our_message_without_pydantics_prefix(
    api: TestClient, path: str, body: dict[str, Any], starts: str
) -> None:
    answer = api.post(f"/api/wp-crm/reports/org_001{path}", json=body, headers=auth())
    assert answer.status_code == 422, answer.text
    message = answer.json()["detail"][0]["msg"]
    assert message.startswith(starts) and "Value error" not in message, message
