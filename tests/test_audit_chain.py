"""The audit trail's hash chain (docs/api.md, "Audit trail"): each event hashes the one
before it in its organisation, so an edit or a removal shows, and the API and
`python -m reports_pipeline.verify_audit` name the first broken link. On SQLite and
PostgreSQL, through the real API."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient

from reports_pipeline import audit, verify_audit
from reports_pipeline.audit import AuditEvent
from reports_pipeline.job_table import MIGRATIONS, Requester, make_engine, migrate
from tests.conftest import auth
from tests.eventually import eventually
from tests.test_api import BASE, job_table_of, lifecycle_of
from tests.test_audit import CHAT
from tests.test_startup import sessions_waiting

VERIFY = f"{BASE}/audit/verify"
READER = Requester("u-2", "u-2@example.com", "User u-2")


def verdict(api: TestClient, org: str = "org_001") -> dict:
    answer = api.get(f"/api/wp-crm/reports/{org}/audit/verify", headers=auth(org))
    assert answer.status_code == 200, answer.text
    return answer.json()


def requested(api: TestClient, n: int = 1, org: str = "org_001") -> list[str]:
    """`n` reports of `org`, each with two events (requested, then a download link)."""
    ids = []
    for i in range(n):
        body = {**CHAT, "type": ["chat", "contact", "ticket", "call_log", "goal"][i], "filters": {}}
        answer = api.post(f"/api/wp-crm/reports/{org}", json=body, headers=auth(org))
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
        api.app.state.audit.download_link_issued(ids[-1], READER)  # type: ignore[attr-defined]
    return ids


@contextlib.contextmanager
def owner_without_triggers(engine: sa.Engine) -> Iterator[sa.Connection]:
    """What the table's owner (or anyone with the database file) can do: lift the
    append-only triggers and rewrite events. The chain is what still shows it."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            yield conn
            conn.execute(sa.text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        else:
            names = conn.execute(
                sa.text(
                    "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'audit_events' "
                    "AND type = 'trigger'"
                )
            ).all()
            for name, _ in names:
                conn.execute(sa.text(f'DROP TRIGGER "{name}"'))
            yield conn
            for _, sql in names:
                conn.execute(sa.text(sql))


def event_ids(api: TestClient) -> list[int]:
    with job_table_of(api).engine.connect() as conn:
        query = "SELECT id FROM audit_events WHERE organisation_id = 'org_001' ORDER BY id"
        return list(conn.execute(sa.text(query)).scalars())


def test_a_trail_as_recorded_is_intact_and_each_organisation_has_its_own(
    api: TestClient,
) -> None:
    report_id = requested(api)[0]
    assert lifecycle_of(api).cancel("org_001", report_id, READER)
    requested(api, 2, org="org_002")
    assert verdict(api) == {"intact": True, "events": 3, "broken_at": None, "reason": None}
    assert verdict(api, "org_002")["events"] == 4
    assert verdict(api, "org_003") == {
        "intact": True,
        "events": 0,
        "broken_at": None,
        "reason": None,
    }


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE audit_events SET actor_id = 'someone else' WHERE id = :id",
        "UPDATE audit_events SET request = '{}' WHERE id = :id",
        "UPDATE audit_events SET occurred_at = occurred_at WHERE id = :id AND 1 = 0",
    ],
    ids=["actor", "request", "nothing"],
)
def test_an_edited_event_is_named_as_the_first_broken_link(api: TestClient, change: str) -> None:
    requested(api, 3)
    ids = event_ids(api)
    with owner_without_triggers(job_table_of(api).engine) as conn:
        conn.execute(sa.text(change), {"id": ids[2]})
    found = verdict(api)
    if "1 = 0" in change:
        assert found["intact"] and found["events"] == 6
    else:
        assert found == {
            "intact": False,
            "events": 3,
            "broken_at": str(ids[2]),
            "reason": "the event does not match its hash",
        }


def test_a_removed_event_breaks_the_next_and_a_removed_tail_breaks_the_head(
    api: TestClient,
) -> None:
    requested(api, 3)
    ids = event_ids(api)
    engine = job_table_of(api).engine
    with owner_without_triggers(engine) as conn:
        conn.execute(sa.text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[1]})
    assert verdict(api)["broken_at"] == str(ids[2])

    with owner_without_triggers(engine) as conn:  # the forger rehashes what follows...
        conn.execute(sa.text("DELETE FROM audit_events WHERE id >= :id"), {"id": ids[1]})
    found = verdict(api)  # ...or removes it all: the head still names the newest event
    assert found["intact"] is False and found["broken_at"] is None
    assert found["reason"] == "events after the last one found were removed"


def test_the_command_checks_every_organisation_and_fails_on_a_break(
    api: TestClient,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    requested(api, 1)
    requested(api, 1, org="org_002")
    monkeypatch.setenv("REPORTS_DATABASE_URL", database_url)
    assert verify_audit.main([]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "org_001: intact, 2 events",
        "org_002: intact, 2 events",
    ]
    with owner_without_triggers(job_table_of(api).engine) as conn:
        conn.execute(
            sa.text(
                "UPDATE audit_events SET event = 'report.canceled' "
                "WHERE organisation_id = 'org_002'"
            )
        )
    assert verify_audit.main(["org_002"]) == 1
    line = capsys.readouterr().out.strip()
    assert line.startswith("org_002: BROKEN at event ") and line.endswith("does not match its hash")


def test_events_recorded_at_once_by_many_writers_form_one_chain(api: TestClient) -> None:
    ids = requested(api, 1)
    trail = api.app.state.audit  # type: ignore[attr-defined]
    threads = [
        threading.Thread(
            target=lambda: [trail.download_link_issued(ids[0], READER) for _ in range(10)]
        )
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert verdict(api) == {"intact": True, "events": 82, "broken_at": None, "reason": None}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_second_writer_waits_for_the_first_and_chains_after_it(api: TestClient) -> None:
    """Deterministically: the first writer holds its event uncommitted; the second is seen
    waiting for the organisation's head in pg_stat_activity, then chains after the first."""
    report_id = requested(api)[0]
    engine, trail = job_table_of(api).engine, api.app.state.audit  # type: ignore[attr-defined]
    with engine.connect() as first, engine.connect() as watcher:
        first.begin()
        audit.record(first, report_id, AuditEvent.DOWNLOAD_LINK_ISSUED, READER)
        second = threading.Thread(target=trail.download_link_issued, args=(report_id, READER))
        second.start()
        eventually(
            lambda: sessions_waiting(watcher) > 0,
            "the second writer to wait",
            timeout_s=30,
            every_s=0.05,
        )
        first.commit()
    second.join(timeout=30)
    assert not second.is_alive()
    assert verdict(api) == {"intact": True, "events": 4, "broken_at": None, "reason": None}


def test_events_recorded_before_the_chain_existed_are_chained_by_the_migration(
    database_url: str,
) -> None:
    """Migrated to the newest, rewound to 0011, events recorded the old way, migrated again."""
    engine = make_engine(database_url)
    migrate(engine)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0011")
        for i, org in enumerate(["org_a", "org_b", "org_a"]):
            at = datetime(2026, 1, i + 1, 10, tzinfo=UTC)
            old_event = {
                "organisation_id": org,
                "report_id": f"r-{i}",
                "report_type": "chat",
                "event": "report.requested",
                "actor_kind": "user",
                "actor_id": "u-1",
                "request": {"filters": {"a": 1}},
                "occurred_at": at,
            }
            columns = [
                sa.column(c.name, c.type) for c in audit.audit_events.c if c.name in old_event
            ]
            conn.execute(sa.insert(sa.table("audit_events", *columns)), old_event)
    migrate(engine)
    assert audit.organisations(engine) == ["org_a", "org_b"]
    found = [audit.verify(engine, org) for org in ("org_a", "org_b")]
    assert [(v.intact, v.events) for v in found] == [(True, 2), (True, 1)]
    engine.dispose()
