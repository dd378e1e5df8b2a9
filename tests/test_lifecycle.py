"""Every status move is one compare-and-set: the races of the old design, replayed step by
step on SQLite and PostgreSQL (no sleeping: each interleaving is written out)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from dagster import DagsterRunStatus

from reports_pipeline.job_table import JobTable, ReportRow, Requester, Status, utcnow
from reports_pipeline.lifecycle import Lifecycle
from reports_pipeline.reconcile import RUN_ENDED, Fail, RunState, decide
from reports_pipeline.request import parse_request
from reports_pipeline.storage import StoredObject

ADMIN = Requester("admin-1", "admin@example.com", "Admin")
FAILURE = RunState("run-sensor", DagsterRunStatus.FAILURE)


@pytest.fixture
def lifecycle(job_table: JobTable) -> Lifecycle:
    return Lifecycle(job_table.engine)


def pending(lifecycle: Lifecycle, kind: str = "ticket", org: str = "org_001") -> ReportRow:
    return lifecycle.request(org, parse_request({"type": kind}), ADMIN)


def read(job_table: JobTable, report: ReportRow) -> ReportRow:
    row = job_table.get_by_id(report.id)
    assert row is not None
    return row


def complete(lifecycle: Lifecycle, report: ReportRow, run_id: str) -> bool:
    return lifecycle.complete(
        report.id,
        run_id,
        row_count=3,
        file_name="f.csv",
        stored=StoredObject("k", 30, "", "", None),
    )


def test_a_late_launch_answer_cannot_take_the_report_from_its_run(
    job_table: JobTable, lifecycle: Lifecycle
) -> None:
    """The API's launch answers only after the reconciler's run claimed the report. The API
    records nothing; the late run's claim is refused; the owner's death fails the report."""
    report = pending(lifecycle)
    assert lifecycle.claim(report.id, "run-sensor")
    assert not lifecycle.claim(report.id, "run-api-late")  # the late run starts, and stops
    owned = read(job_table, report)
    assert (owned.status, owned.dagster_run_id) == (Status.PROCESSING, "run-sensor")
    # The owner dies: the reconciler sees it and fails the report, not "another run's".
    decision = decide(owned, [FAILURE, RunState("run-api-late", FAILURE.status)], utcnow())
    assert decision == Fail(RUN_ENDED[FAILURE.status], "run-sensor")
    assert lifecycle.fail(report.id, decision.reason, run_id="run-sensor")
    assert read(job_table, report).status is Status.FAILED


def test_a_zombie_run_cannot_report_progress_or_complete_a_failed_report(
    job_table: JobTable, lifecycle: Lifecycle
) -> None:
    report = pending(lifecycle)
    assert lifecycle.claim(report.id, "run-1")
    assert lifecycle.progress(report.id, "run-1", 10)
    assert lifecycle.fail(report.id, "run ended", run_id="run-1")  # the reconciler
    assert not lifecycle.progress(report.id, "run-1", 20)
    assert not complete(lifecycle, report, "run-1")
    failed = read(job_table, report)
    assert (failed.status, failed.error, failed.rows_written, failed.row_count) == (
        Status.FAILED,
        "run ended",
        10,
        None,
    )


def test_only_the_owning_run_moves_a_processing_report(
    job_table: JobTable, lifecycle: Lifecycle
) -> None:
    report = pending(lifecycle)
    assert lifecycle.claim(report.id, "run-1")
    assert not lifecycle.claim(report.id, "run-2")
    assert not lifecycle.progress(report.id, "run-2", 5)
    assert not lifecycle.fail(report.id, "not mine", run_id="run-2")
    assert not lifecycle.fail(report.id, "never claimed?", run_id=None)  # it was claimed
    assert not complete(lifecycle, report, "run-2")
    assert complete(lifecycle, report, "run-1")
    assert not lifecycle.fail(report.id, "late", run_id="run-1")
    assert read(job_table, report).status is Status.COMPLETED


def test_a_canceled_report_is_never_claimed_by_its_queued_run(
    job_table: JobTable, lifecycle: Lifecycle
) -> None:
    report = pending(lifecycle)
    assert lifecycle.cancel("org_001", report.id, ADMIN)
    assert not lifecycle.claim(report.id, "run-1")
    assert not lifecycle.cancel("org_001", report.id, ADMIN)
    canceled = read(job_table, report)
    assert (canceled.status, canceled.canceled_by, canceled.dagster_run_id) == (
        Status.CANCELED,
        ADMIN,
        None,
    )


def test_cancel_is_scoped_to_the_organisation(job_table: JobTable, lifecycle: Lifecycle) -> None:
    report = pending(lifecycle)
    assert not lifecycle.cancel("org_002", report.id, ADMIN)
    assert read(job_table, report).status is Status.PENDING


@pytest.mark.parametrize("first", ["cancel", "complete"])
def test_cancel_and_completion_in_either_order_leave_the_first(
    job_table: JobTable, lifecycle: Lifecycle, first: str
) -> None:
    report = pending(lifecycle)
    assert lifecycle.claim(report.id, "run-1")
    moves = {
        "cancel": lambda: lifecycle.cancel("org_001", report.id, ADMIN),
        "complete": lambda: complete(lifecycle, report, "run-1"),
    }
    second = "complete" if first == "cancel" else "cancel"
    assert moves[first]()
    assert not moves[second]()
    final = read(job_table, report)
    assert final.status is (Status.CANCELED if first == "cancel" else Status.COMPLETED)
    assert (final.canceled_at is None) == (first == "complete")
    assert (final.row_count is None) == (first == "cancel")


def test_cancel_racing_completion_leaves_exactly_one_final_state(
    job_table: JobTable, lifecycle: Lifecycle
) -> None:
    """Both moves released at once by a barrier, twenty times over: exactly one applies."""
    for round_ in range(20):
        org = f"org_{round_:03d}"  # a completed report blocks its type for five minutes
        report = pending(lifecycle, org=org)
        assert lifecycle.claim(report.id, "run-1")
        start = threading.Barrier(2)

        def cancel(r: ReportRow = report, barrier: threading.Barrier = start) -> bool:
            barrier.wait()
            return lifecycle.cancel(r.organisation_id, r.id, ADMIN)

        def finish(r: ReportRow = report, barrier: threading.Barrier = start) -> bool:
            barrier.wait()
            return complete(lifecycle, r, "run-1")

        with ThreadPoolExecutor(2) as pool:
            canceled, completed = pool.submit(cancel), pool.submit(finish)
            outcome = (canceled.result(), completed.result())
        assert outcome in ((True, False), (False, True))
        final = read(job_table, report)
        assert final.status is (Status.CANCELED if outcome[0] else Status.COMPLETED)
        assert (final.canceled_at is None, final.row_count is None) == (
            not outcome[0],
            outcome[0],
        )


def test_failed_and_canceled_reports_wait_for_their_files_to_be_discarded(
    job_table: JobTable, lifecycle: Lifecycle
) -> None:
    by_run, unclaimed = pending(lifecycle, "chat"), pending(lifecycle)
    assert lifecycle.claim(by_run.id, "run-1")
    assert lifecycle.fail(by_run.id, "store down", run_id="run-1")
    assert lifecycle.fail(unclaimed.id, "never launched", run_id=None)  # nothing to discard
    canceled = pending(lifecycle)
    assert lifecycle.cancel("org_001", canceled.id, ADMIN)
    assert {r.id for r in job_table.unsettled()} == {by_run.id, canceled.id}
    assert lifecycle.mark_discarded(by_run.id)
    assert not lifecycle.mark_discarded(by_run.id)
    assert [r.id for r in job_table.unsettled()] == [canceled.id]
