"""The audit trail through the real API, on SQLite and PostgreSQL (docs/api.md, "Audit
trail"): every request, start, completion, failure, cancel and download link, newest
first, organisation-scoped, append-only."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.conftest import auth
from tests.test_api import BASE, finish, job_table_of, lifecycle_of

AUDIT = f"{BASE}/audit"
CHAT = {
    "type": "chat",
    "filters": {"high_priority": True},
    "timezone": "Asia/Kolkata",
    "format": "xlsx",
    "purpose": "Monthly review of high-priority chats",
}


def history(api: TestClient, report_id: str, org: str = "org_001") -> list[dict]:
    answer = api.get(f"/api/wp-crm/reports/{org}/audit?report_id={report_id}", headers=auth(org))
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_a_reports_whole_history_is_recorded_newest_first(api: TestClient) -> None:
    report_id = api.post(BASE, json=CHAT, headers=auth(sub="asker")).json()["id"]
    finish(api, report_id)
    for reader in ("reader-1", "reader-2"):
        assert api.get(f"{BASE}/{report_id}/download", headers=auth(sub=reader)).status_code == 200
    refused = api.post(f"{BASE}/{report_id}/cancel", headers=auth(sub="late"))
    assert refused.status_code == 409  # a move that did not happen leaves no event

    events = history(api, report_id)
    assert [(e["event"], e["actor"]["id"]) for e in events] == [
        ("report.download_link_issued", "reader-2"),
        ("report.download_link_issued", "reader-1"),
        ("report.completed", "asker"),
        ("report.started", "asker"),
        ("report.requested", "asker"),
    ]
    requested = events[-1]
    assert requested["actor"] == {
        "kind": "user",
        "id": "asker",
        "email": "asker@example.com",
        "name": "User asker",
    }
    assert requested["type"] == "chat" and requested["report_id"] == report_id
    assert requested["filters"] == {"high_priority": True}
    assert requested["purpose"] == CHAT["purpose"]
    assert (requested["format"], requested["timezone"]) == ("xlsx", "Asia/Kolkata")
    stamps = [e["occurred_at"] for e in events]
    assert stamps == sorted(stamps, reverse=True)


def test_a_cancel_and_a_failure_are_recorded_with_who_acted(api: TestClient) -> None:
    canceled = api.post(BASE, json=CHAT, headers=auth(sub="asker")).json()["id"]
    assert api.post(f"{BASE}/{canceled}/cancel", headers=auth(sub="boss")).status_code == 200
    assert [(e["event"], e["actor"]["id"]) for e in history(api, canceled)] == [
        ("report.canceled", "boss"),
        ("report.requested", "asker"),
    ]
    failed = api.post(BASE, json={"type": "ticket"}, headers=auth(sub="asker")).json()["id"]
    assert lifecycle_of(api).fail(failed, "the replica could not be read", run_id=None)
    assert [e["event"] for e in history(api, failed)] == ["report.failed", "report.requested"]


def test_another_organisation_sees_none_of_it(api: TestClient) -> None:
    report_id = api.post(BASE, json=CHAT, headers=auth()).json()["id"]
    api.post(f"{BASE}/{report_id}/cancel", headers=auth())
    assert history(api, report_id, org="org_002") == []
    theirs = api.get("/api/wp-crm/reports/org_002/audit", headers=auth("org_002")).json()
    assert theirs["items"] == []
    # Their token on our path is refused like every other path of ours.
    assert api.get(AUDIT, headers=auth("org_002")).status_code == 404
    assert api.get(AUDIT, headers=auth(role="user")).status_code == 403


def test_the_trail_pages_newest_first_without_gaps(api: TestClient) -> None:
    for report_type in ("chat", "ticket", "contact"):
        report_id = api.post(BASE, json={"type": report_type}, headers=auth()).json()["id"]
        api.post(f"{BASE}/{report_id}/cancel", headers=auth())
    seen: list[str] = []
    cursor = None
    while True:
        query = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        page = api.get(AUDIT + query, headers=auth()).json()
        seen += [e["id"] for e in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert len(seen) == 6 and seen == sorted(seen, key=int, reverse=True)
    bad = api.get(f"{AUDIT}?cursor=bm90LW91cnM", headers=auth())
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_events SET actor_id = 'x'", "DELETE FROM audit_events"]
)
def test_events_cannot_be_rewritten_even_in_the_database(api: TestClient, statement: str) -> None:
    api.post(BASE, json=CHAT, headers=auth())
    engine = job_table_of(api).engine
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text(statement))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM audit_events")).scalar_one() == 1


def test_the_bypasses_of_row_triggers_are_refused_too(api: TestClient) -> None:
    """SQLite's REPLACE deletes without firing DELETE triggers; PostgreSQL's TRUNCATE fires
    no row trigger. Both are refused, and the event reads as it was."""
    api.post(BASE, json=CHAT, headers=auth())
    engine = job_table_of(api).engine
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT * FROM audit_events")).one()
    if engine.dialect.name == "sqlite":
        columns = ", ".join(before._fields)
        values = ", ".join(f":{c}" for c in before._fields)
        statement = sa.text(f"INSERT OR REPLACE INTO audit_events ({columns}) VALUES ({values})")  # noqa: S608
        params = {**before._asdict(), "actor_id": "someone else"}
    else:
        statement, params = sa.text("TRUNCATE audit_events"), {}
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(statement, params)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT * FROM audit_events")).all() == [before]
