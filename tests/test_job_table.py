"""The job table on SQLite and PostgreSQL: rate limit, race, pagination, status moves."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from reports_pipeline.job_table import JobTable, Requester, Status, utcnow
from reports_pipeline.lifecycle import CompletedRecently, Lifecycle, ReportInProgress
from reports_pipeline.request import RequestBase, parse_request
from reports_pipeline.storage import StoredObject

REQUESTER = Requester("u-1", "u@example.com", "U")


def new(kind: str = "ticket") -> RequestBase:
    return parse_request({"type": kind})


@pytest.fixture
def lifecycle(job_table: JobTable) -> Lifecycle:
    return Lifecycle(job_table.engine)


def test_fifty_simultaneous_requests_give_exactly_one_report(
    job_table: JobTable, lifecycle: Lifecycle
) -> None:
    def attempt(_: int) -> str:
        try:
            lifecycle.request("org_001", new(), REQUESTER)
        except ReportInProgress:
            return "409"
        return "202"

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(attempt, range(50)))
    assert outcomes.count("202") == 1
    assert outcomes.count("409") == 49
    rows, _ = job_table.page("org_001", limit=100)
    assert len(rows) == 1


def test_other_types_and_organisations_are_not_limited(lifecycle: Lifecycle) -> None:
    lifecycle.request("org_001", new("ticket"), REQUESTER)
    lifecycle.request("org_001", new("chat"), REQUESTER)
    lifecycle.request("org_002", new("ticket"), REQUESTER)


def test_completed_within_five_minutes_blocks_with_retry_after(lifecycle: Lifecycle) -> None:
    report = lifecycle.request("org_001", new(), REQUESTER)
    assert lifecycle.claim(report.id, "run-1")
    assert lifecycle.complete(
        report.id,
        "run-1",
        row_count=1,
        file_name="f.csv",
        stored=StoredObject("k", 10, "", "", None),
    )
    with pytest.raises(CompletedRecently) as refused:
        lifecycle.request("org_001", new(), REQUESTER)
    assert refused.value.existing_id == report.id
    assert 290 <= refused.value.retry_after_s <= 300
    later = utcnow() + timedelta(minutes=5, seconds=1)
    assert lifecycle.request("org_001", new(), REQUESTER, now=later).status is Status.PENDING


def test_a_failed_or_canceled_report_does_not_block(lifecycle: Lifecycle) -> None:
    report = lifecycle.request("org_001", new(), REQUESTER)
    assert lifecycle.fail(report.id, "boom", run_id=None)
    second = lifecycle.request("org_001", new(), REQUESTER)
    assert lifecycle.cancel("org_001", second.id, REQUESTER)
    assert lifecycle.request("org_001", new(), REQUESTER).id not in (report.id, second.id)


def test_the_request_is_stored_as_one_document(job_table: JobTable, lifecycle: Lifecycle) -> None:
    body = {
        "type": "chat",
        "filters": {"high_priority": True, "created": {"from": "2026-10-01"}},
        "timezone": "Asia/Kolkata",
        "purpose": "Monthly review",
    }
    report = lifecycle.request("org_001", parse_request(body), REQUESTER)
    stored = job_table.get_by_id(report.id)
    assert stored is not None
    assert stored.request == {**body, "format": "csv"}
    assert parse_request(stored.request) == parse_request(body)


def test_list_pages_newest_first_with_an_opaque_cursor(
    job_table: JobTable, lifecycle: Lifecycle
) -> None:
    base = utcnow() - timedelta(hours=1)
    ids = []
    for i, kind in enumerate(["chat", "contact", "ticket", "call_log", "goal"]):
        at = base + timedelta(seconds=i)
        ids.append(lifecycle.request("org_001", new(kind), REQUESTER, now=at).id)
    first, cursor = job_table.page("org_001", limit=2)
    assert [r.id for r in first] == ids[::-1][:2]
    second, cursor2 = job_table.page("org_001", limit=2, cursor=cursor)
    third, cursor3 = job_table.page("org_001", limit=2, cursor=cursor2)
    assert [r.id for r in second + third] == ids[::-1][2:]
    assert cursor3 is None
    only_goal, _ = job_table.page("org_001", limit=10, report_type="goal")
    assert [r.type for r in only_goal] == ["goal"]
    assert job_table.page("org_002", limit=10) == ([], None)
