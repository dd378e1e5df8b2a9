"""Recurring exports (issue: exports that come by themselves): due times in the schedule's
own timezone across DST, relative date bounds, exactly one report per due time, a skipped
firing under the rate limit, the API, and a firing through the real daemon."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from devstack import Stack
from reports_pipeline.job_table import JobTable, Requester, make_engine
from reports_pipeline.lifecycle import Lifecycle
from reports_pipeline.reports import REPORT_TYPES
from reports_pipeline.request import RequestBase, parse_request
from reports_pipeline.schedules import (
    ScheduleCreate,
    Schedules,
    firing_report_id,
    next_due,
    relative_day,
    schedules,
)
from tests.conftest import SHOTS, auth, token
from tests.eventually import eventually
from tests.test_dagster_ui import open_ui
from tests.test_e2e import wait_for
from tests.test_webhooks import Receiver, documented_verify

BASE = "/api/wp-crm/reports/org_001/schedules"
ORG = "org_002"  # the end-to-end tests export no other org_002 tickets
LAST_MONTH = {"created": {"from": "-1 month start", "to": "-1 month end"}}


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.fast
@pytest.mark.parametrize(
    ("cron", "tz", "after", "due"),
    [
        # Daily 06:00 in Berlin: 05:00 UTC in winter, 04:00 UTC from the spring change on.
        ("0 6 * * *", "Europe/Berlin", utc(2026, 3, 28, 5), utc(2026, 3, 29, 4)),
        ("0 6 * * *", "Europe/Berlin", utc(2026, 10, 24, 4), utc(2026, 10, 25, 5)),
        # The 1st at 06:00 in New York, across its November change.
        ("0 6 1 * *", "America/New_York", utc(2026, 10, 1, 12), utc(2026, 11, 1, 11)),
        ("0 6 1 * *", "America/New_York", utc(2026, 11, 1, 11), utc(2026, 12, 1, 11)),
        # Hourly in Kolkata (no DST, half-hour offset).
        ("0 * * * *", "Asia/Kolkata", utc(2026, 1, 1, 0, 10), utc(2026, 1, 1, 0, 30)),
    ],
)
def test_due_times_are_wall_clock_times_in_the_schedules_zone(
    cron: str, tz: str, after: datetime, due: datetime
) -> None:
    assert next_due(cron, tz, after) == due


@pytest.mark.fast
@pytest.mark.parametrize(
    ("text", "today", "expected"),
    [
        ("-1 month start", date(2026, 1, 1), date(2025, 12, 1)),
        ("-1 month end", date(2026, 3, 1), date(2026, 2, 28)),
        ("-1 month end", date(2024, 3, 15), date(2024, 2, 29)),
        ("0 month end", date(2026, 12, 31), date(2026, 12, 31)),
        ("-7 day start", date(2026, 3, 3), date(2026, 2, 24)),
        ("-1 week start", date(2026, 12, 2), date(2026, 11, 23)),  # weeks start on Monday
        ("-1 week end", date(2026, 12, 2), date(2026, 11, 29)),
        ("-1 quarter start", date(2026, 2, 10), date(2025, 10, 1)),
        ("-1 quarter end", date(2026, 2, 10), date(2025, 12, 31)),
        ("+1 year end", date(2026, 6, 1), date(2027, 12, 31)),
    ],
)
def test_relative_bounds(text: str, today: date, expected: date) -> None:
    n, unit, edge = text.split()
    assert relative_day(today, int(n), unit, edge) == expected


def made(job_table: JobTable, body: dict[str, object], now: datetime) -> tuple[Schedules, str]:
    book = Schedules(job_table.engine, Lifecycle(job_table.engine))
    schedule = book.create("org_001", ScheduleCreate(**body), Requester("u-1"), now)  # type: ignore[arg-type]
    return book, schedule.id


DAILY_TICKETS = {
    "name": "Yesterday's tickets",
    "cron": "0 6 * * *",
    "type": "ticket",
    "timezone": "Europe/Berlin",
    "filters": {"created": {"from": "-1 day start", "to": "-1 day end"}},
}


def test_a_firing_requests_its_due_times_report_once(job_table: JobTable) -> None:
    book, schedule_id = made(job_table, DAILY_TICKETS, utc(2026, 3, 28, 12))
    schedule = book.get("org_001", schedule_id)
    assert schedule is not None and schedule.next_due_at == utc(2026, 3, 29, 4)
    first = book.fire(schedule, utc(2026, 3, 29, 4, 0, 30))
    again = book.fire(schedule, utc(2026, 3, 29, 4, 1))  # the same due time, seen again
    assert first == again and first.outcome == "requested"
    report = job_table.get_by_id(firing_report_id(schedule_id, utc(2026, 3, 29, 4)))
    assert report is not None and first.report_id == report.id
    assert report.filters == {"created": {"from": "2026-03-28", "to": "2026-03-28"}}
    assert report.requested_by == Requester(f"schedule:{schedule_id}", None, DAILY_TICKETS["name"])
    assert [f.due_at for f in book.firings_of(schedule_id)] == [utc(2026, 3, 29, 4)]
    moved = book.get("org_001", schedule_id)
    assert moved is not None and moved.next_due_at == utc(2026, 3, 30, 4)


def test_a_report_made_before_a_crash_is_not_made_again_nor_called_skipped(
    job_table: JobTable,
) -> None:
    """The sensor made the report, then died before recording the firing."""
    book, schedule_id = made(job_table, DAILY_TICKETS, utc(2026, 3, 28, 12))
    schedule = book.get("org_001", schedule_id)
    assert schedule is not None
    due = schedule.next_due_at
    request = parse_request({"type": "ticket", "timezone": "Europe/Berlin"})
    Lifecycle(job_table.engine).request(
        "org_001", request, schedule.requester, report_id=firing_report_id(schedule_id, due)
    )
    firing = book.fire(schedule, due + timedelta(seconds=5))
    assert (firing.outcome, firing.report_id) == ("requested", firing_report_id(schedule_id, due))


def test_a_firing_the_rate_limit_refuses_is_recorded_as_skipped(job_table: JobTable) -> None:
    book, schedule_id = made(job_table, DAILY_TICKETS, utc(2026, 3, 28, 12))
    busy = Lifecycle(job_table.engine).request(
        "org_001", parse_request({"type": "ticket"}), Requester("u-2")
    )
    schedule = book.get("org_001", schedule_id)
    assert schedule is not None
    firing = book.fire(schedule, schedule.next_due_at + timedelta(seconds=1))
    assert (firing.outcome, firing.report_id) == ("skipped", None)
    assert firing.detail is not None and firing.detail.startswith("rate limit: ReportInProgress")
    assert job_table.get_by_id(firing_report_id(schedule_id, schedule.next_due_at)) is None
    assert busy.status.value == "pending"


def test_after_downtime_the_latest_missed_due_time_fires_once(job_table: JobTable) -> None:
    book, schedule_id = made(job_table, DAILY_TICKETS, utc(2026, 3, 20, 12))
    schedule = book.get("org_001", schedule_id)
    assert schedule is not None
    firing = book.fire(schedule, utc(2026, 3, 30, 12))  # ten due times passed while down
    assert firing.due_at == utc(2026, 3, 30, 4)
    assert firing.detail is not None and firing.detail.endswith("9 earlier due times were missed")
    assert len(book.firings_of(schedule_id)) == 1


# ---------------------------------------------------------------- the API


def test_create_read_pause_resume_and_delete(api: TestClient) -> None:
    body = {"name": "Last month's chats", "cron": "0 6 1 * *", "type": "chat"}
    created = api.post(BASE, json={**body, "filters": LAST_MONTH}, headers=auth())
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["filters"] == LAST_MONTH and schedule["paused"] is False
    assert schedule["next_fire_at"].endswith("Z") and schedule["last_firing"] is None
    path = f"{BASE}/{schedule['id']}"
    assert api.get(BASE, headers=auth()).json()["items"] == [schedule]
    assert api.get(path, headers=auth()).json() == schedule
    paused = api.post(f"{path}/pause", headers=auth()).json()
    assert (paused["paused"], paused["next_fire_at"]) == (True, None)
    resumed = api.post(f"{path}/resume", headers=auth()).json()
    assert resumed["paused"] is False and resumed["next_fire_at"]
    other = {"Authorization": f"Bearer {token(org='org_002')}"}
    assert api.get(path.replace("org_001", "org_002"), headers=other).status_code == 404
    assert api.delete(path, headers=auth()).status_code == 204
    assert api.get(path, headers=auth()).json()["detail"] == "Schedule not found"


@pytest.mark.parametrize(
    "change",
    [
        {"cron": "every day"},
        {"cron": "0 6 1 * * *"},
        {"cron": "0 0 31 4,6,9,11 *"},  # valid fields, but no such day ever comes
        {"cron": "0 0 30 2 *"},
        {"cron": "٠ 6 1 * *"},  # an Arabic-Indic zero: digits are ASCII
        {"filters": {"created": {"from": "-١ month start"}}},
        {"timezone": "Mars/Olympus"},
        {"type": "invoice"},
        {"filters": {"created": {"from": "-1 fortnight start"}}},
        {"filters": {"no_such_filter": True}},
        {"name": ""},
        {"surprise": 1},
    ],
)
def test_a_schedule_that_could_not_fire_is_refused(
    api: TestClient, change: dict[str, object]
) -> None:
    body = {"name": "x", "cron": "0 6 1 * *", "type": "chat", **change}
    answer = api.post(BASE, json=body, headers=auth())
    assert answer.status_code == 422, answer.text


def test_only_owners_and_admins_schedule(api: TestClient) -> None:
    body = {"name": "x", "cron": "0 6 1 * *", "type": "chat"}
    user = {"Authorization": f"Bearer {token(role='user')}"}
    assert api.post(BASE, json=body, headers=user).status_code == 403
    assert api.get(BASE, headers=user).status_code == 403


# ---------------------------------------------------------------- the real daemon


@pytest.mark.browser
def test_a_schedule_fires_through_the_daemon_once_per_due_time(
    e2e_stack: Stack, page: Page
) -> None:
    """Time is driven by moving the schedule's due time into the past. The due time chosen
    reads March 2026 in Berlin (`-9 month` from 1 December), which holds the spring DST
    change; a restart of the daemon then meets the same due time again."""
    base = f"{e2e_stack.api_url}{BASE.replace('org_001', ORG)}"
    body = {
        "name": "March tickets",
        "cron": "0 6 1 * *",
        "type": "ticket",
        "timezone": "Europe/Berlin",
        "filters": {"created": {"from": "-9 month start", "to": "-9 month end"}},
    }
    schedule = httpx.post(base, json=body, headers=auth(ORG)).json()
    hooks = f"{e2e_stack.api_url}/api/wp-crm/reports/{ORG}/webhooks"
    endpoint = Receiver()  # the completion also reaches a webhook, through the daemon
    hook = httpx.post(
        hooks, json={"url": endpoint.url, "events": ["report.completed"]}, headers=auth(ORG)
    ).json()
    due = utc(2026, 12, 1, 5)  # 1 December 06:00 in Berlin
    engine = make_engine(str(e2e_stack.database_url))
    set_due = schedules.update().where(schedules.c.id == schedule["id"])
    with engine.begin() as conn:
        conn.execute(set_due.values(next_due_at=due))
    report_id = firing_report_id(schedule["id"], due)
    reports = f"{e2e_stack.api_url}/api/wp-crm/reports/{ORG}"
    eventually(
        lambda: httpx.get(f"{reports}/{report_id}", headers=auth(ORG)).status_code != 404,
        "the daemon fires the schedule",
    )
    report = wait_for(e2e_stack, ORG, report_id, {"completed", "failed"})
    assert report["status"] == "completed", report
    assert report["filters"] == {"created": {"from": "2026-03-01", "to": "2026-03-31"}}
    assert report["requested_by"]["id"] == f"schedule:{schedule['id']}"
    link = httpx.get(
        f"{e2e_stack.api_url}/api/wp-crm/reports/{ORG}/{report_id}/download", headers=auth(ORG)
    ).json()
    rows = list(csv.DictReader(io.StringIO(httpx.get(link["url"]).content.decode("utf-8-sig"))))
    created = sorted(row["Created At"] for row in rows)
    assert created and created[0] >= "2026-03-01" and created[-1] < "2026-04-01"
    # What a data engineer sees: the firing's run, tagged with the schedule like any export.
    open_ui(page, e2e_stack, f"/runs?q%5B0%5D=tag%3Areports%2Fschedule%3D{schedule['id']}")
    expect(page.get_by_text(f"reports/schedule={schedule['id']}").first).to_be_visible(
        timeout=30_000
    )
    page.screenshot(path=SHOTS / "dagster-4-schedule-firings.png", full_page=True)
    headers, delivered = endpoint.received.get(timeout=60)
    endpoint.close()
    assert documented_verify()(hook["secret"], headers["X-Reports-Signature"], delivered)
    assert json.loads(delivered)["report"]["id"] == report_id

    e2e_stack.stop_process("dagster-daemon")
    e2e_stack.start_daemon()
    with engine.begin() as conn:  # as if the move past this due time had been lost
        conn.execute(set_due.values(next_due_at=due))

    def moved_past_due() -> bool:
        with engine.connect() as conn:
            row = conn.execute(
                sa.select(schedules.c.next_due_at).where(schedules.c.id == schedule["id"])
            ).one()
        return bool(row.next_due_at > due)

    # The firing is recorded before the schedule moves on, so once it has moved the
    # reports the daemon made (none, here) are all in the job table.
    eventually(moved_past_due, "the daemon evaluates the schedule again")
    listed = httpx.get(
        f"{e2e_stack.api_url}/api/wp-crm/reports/{ORG}?type=ticket&limit=100", headers=auth(ORG)
    ).json()["items"]
    mine = [r for r in listed if r["requested_by"]["id"] == f"schedule:{schedule['id']}"]
    assert [r["id"] for r in mine] == [report_id]
    shown = httpx.get(f"{base}/{schedule['id']}", headers=auth(ORG)).json()
    assert shown["last_firing"]["report_id"] == report_id

    # A second schedule of the same export fires minutes after the first one completed:
    # the rate limit refuses it, and the daemon records the firing as skipped.
    again = httpx.post(base, json={**body, "name": "Same again"}, headers=auth(ORG)).json()
    with engine.begin() as conn:
        conn.execute(
            schedules.update().where(schedules.c.id == again["id"]).values(next_due_at=due)
        )
    last = eventually(
        lambda: httpx.get(f"{base}/{again['id']}", headers=auth(ORG)).json()["last_firing"],
        "the daemon fires the second schedule",
    )
    assert (last["outcome"], last["report_id"]) == ("skipped", None)
    assert last["detail"].startswith("rate limit: CompletedRecently")
    engine.dispose()


@pytest.mark.fast
def test_a_schedule_takes_every_field_of_a_request_but_its_password() -> None:
    request_fields = set(RequestBase.model_fields) - {"password"}
    options = {n for t in REPORT_TYPES.values() if t.options for n in t.options.model_fields}
    assert set(ScheduleCreate.model_fields) == request_fields | options | {"name", "cron"}
    for name in request_fields - {"type", "filters"}:  # declared once, in the request
        assert ScheduleCreate.model_fields[name].annotation == (
            RequestBase.model_fields[name].annotation
        )
