"""What the reconciler does with each unsettled report, decided from the job row and the
report's Dagster runs alone (no I/O here, so every case is a plain test).

The job row is the truth; the reconciler keeps Dagster and the store in line with it:
- a `pending` report no run picked up is launched (the API launches at once; this is for
  when it could not), or failed once it has waited `LAUNCH_BOUND` for Dagster;
- a `pending` report whose runs all ended without claiming it is failed;
- a `processing` report whose run ended, or was deleted, is failed (files removed first);
- a `canceled` report's unfinished runs are terminated;
- a `failed` or `canceled` report's files are removed once no run of it can write again.
It keeps no cursor: each tick looks at the job table afresh, so a tick that fails half-way
is simply done again by the next one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dagster import DagsterRunStatus

from reports_pipeline.job_table import ReportRow, Status

# The API launches right after recording a request; the reconciler waits this long first.
LAUNCH_GRACE = timedelta(seconds=15)
# A request that could not be launched for this long (Dagster unreachable) is failed.
LAUNCH_BOUND = timedelta(hours=1)
FINISHED = frozenset(
    {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
)

NOT_LAUNCHED = (
    "The export could not be started within an hour (the export service was unavailable). "
    "Please request it again."
)
NEVER_STARTED = "The export run stopped before it could start. Please request it again."
RUN_DELETED = "The export run was deleted before it finished. Please request it again."
RUN_ENDED = {
    DagsterRunStatus.FAILURE: (
        "The export run stopped unexpectedly before finishing. Please request it again."
    ),
    DagsterRunStatus.CANCELED: (
        "The export run was canceled in Dagster before it finished. Please request it again."
    ),
    DagsterRunStatus.SUCCESS: (
        "The export run ended without completing the report. Please request it again."
    ),
}


@dataclass(frozen=True)
class RunState:
    run_id: str
    status: DagsterRunStatus


@dataclass(frozen=True)
class Wait:
    why: str


@dataclass(frozen=True)
class Launch:
    pass


@dataclass(frozen=True)
class Fail:
    reason: str
    run_id: str | None  # the owning run, or None for a report no run claimed


@dataclass(frozen=True)
class Terminate:
    run_ids: tuple[str, ...]


@dataclass(frozen=True)
class Discard:
    pass


Decision = Wait | Launch | Fail | Terminate | Discard


def decide(report: ReportRow, runs: Sequence[RunState], now: datetime) -> Decision:
    unfinished = tuple(run.run_id for run in runs if run.status not in FINISHED)
    if report.status is Status.PENDING:
        if unfinished:
            return Wait("its run is queued or starting")
        if runs:
            return Fail(NEVER_STARTED, None)
        waited = now - report.created_at
        if waited < LAUNCH_GRACE:
            return Wait("the API is launching it")
        return Fail(NOT_LAUNCHED, None) if waited > LAUNCH_BOUND else Launch()
    if report.status is Status.PROCESSING:
        owner = next((run for run in runs if run.run_id == report.dagster_run_id), None)
        if owner is None:
            return Fail(RUN_DELETED, report.dagster_run_id)
        if owner.status not in FINISHED:
            return Wait("its run is exporting")
        return Fail(RUN_ENDED[owner.status], owner.run_id)
    if report.status in (Status.FAILED, Status.CANCELED) and report.discarded_at is None:
        if not unfinished:
            return Discard()
        if report.status is Status.CANCELED:
            return Terminate(unfinished)
        return Wait("its run is ending")
    return Wait("it is settled")
