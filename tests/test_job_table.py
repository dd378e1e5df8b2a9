"""The job table on SQLite and PostgreSQL: rate limit, race, pagination, status moves."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from reports_pipeline.job_table import (
    CompletedRecently,
    JobTable,
    NewReport,
    ReportInProgress,
    Requester,
    Status,
    utcnow,
)


def new(org: str = "org_001", kind: str = "ticket") -> NewReport:
    return NewReport(org, kind, {}, "UTC", Requester("u-1", "u@example.com", "U"))


def test_fifty_simultaneous_requests_give_exactly_one_report(job_table: JobTable) -> None:
    def attempt(_: int) -> str:
        try:
            job_table.create(new())
        except ReportInProgress:
            return "409"
        return "202"

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(attempt, range(50)))
    assert outcomes.count("202") == 1
    assert outcomes.count("409") == 49
    rows, _ = job_table.page("org_001", limit=100)
    assert len(rows) == 1


def test_other_types_and_organisations_are_not_limited(job_table: JobTable) -> None:
    job_table.create(new("org_001", "ticket"))
    job_table.create(new("org_001", "chat"))
    job_table.create(new("org_002", "ticket"))


def test_completed_within_five_minutes_blocks_with_retry_after(job_table: JobTable) -> None:
    report = job_table.create(new())
    assert job_table.claim(report.id, "run-1")
    assert job_table.complete(
        report.id, row_count=1, size_bytes=10, file_name="f.csv", object_key="k"
    )
    with pytest.raises(CompletedRecently) as refused:
        job_table.create(new())
    assert refused.value.existing_id == report.id
    assert 290 <= refused.value.retry_after_s <= 300
    later = utcnow() + timedelta(minutes=5, seconds=1)
    assert job_table.create(new(), now=later).status is Status.PENDING


def test_a_failed_report_does_not_block(job_table: JobTable) -> None:
    report = job_table.create(new())
    assert job_table.fail(report.id, "boom")
    assert job_table.create(new()).id != report.id


def test_only_one_run_can_claim_a_report(job_table: JobTable) -> None:
    report = job_table.create(new())
    assert job_table.claim(report.id, "run-1")
    assert not job_table.claim(report.id, "run-2")
    assert job_table.get("org_001", report.id).dagster_run_id == "run-1"  # type: ignore[union-attr]


def test_a_finished_report_keeps_its_status_when_failed_late(job_table: JobTable) -> None:
    report = job_table.create(new())
    job_table.claim(report.id, "run-1")
    job_table.complete(report.id, row_count=0, size_bytes=3, file_name="f.csv", object_key="k")
    assert not job_table.fail(report.id, "late sensor")
    assert job_table.get("org_001", report.id).status is Status.COMPLETED  # type: ignore[union-attr]


def test_list_pages_newest_first_with_an_opaque_cursor(job_table: JobTable) -> None:
    base = utcnow() - timedelta(hours=1)
    ids = []
    for i, kind in enumerate(["chat", "contact", "ticket", "call_log", "goal"]):
        ids.append(job_table.create(new(kind=kind), now=base + timedelta(seconds=i)).id)
    first, cursor = job_table.page("org_001", limit=2)
    assert [r.id for r in first] == ids[::-1][:2]
    second, cursor2 = job_table.page("org_001", limit=2, cursor=cursor)
    third, cursor3 = job_table.page("org_001", limit=2, cursor=cursor2)
    assert [r.id for r in second + third] == ids[::-1][2:]
    assert cursor3 is None
    only_goal, _ = job_table.page("org_001", limit=10, report_type="goal")
    assert [r.type for r in only_goal] == ["goal"]
    assert job_table.page("org_002", limit=10) == ([], None)
