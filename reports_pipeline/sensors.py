"""The sensors that act on the job table: the reconciler keeps Dagster and the store in
line with it; `fire_schedules` turns schedules' due times into reports and runs.

`reports_pipeline.reconcile` decides; this applies the decisions. Each report is handled
on its own, so one that cannot be settled now (the store is down) does not hold up the
others, and is tried again on the next tick.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dagster import (
    DagsterInstance,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from reports_pipeline.contract import (
    TAG_REPORT_ID,
    ReportPublic,
    outcome_tag,
    run_config,
    run_tags,
)
from reports_pipeline.export import export_report
from reports_pipeline.job_table import JobTable, ReportRow, Status, utcnow
from reports_pipeline.lifecycle import Lifecycle
from reports_pipeline.reconcile import (
    Discard,
    Fail,
    Launch,
    RunState,
    Terminate,
    Wait,
    decide,
)
from reports_pipeline.resources import JobTableResource, ReportStoreResource
from reports_pipeline.storage import ReportStore
from reports_pipeline.webhooks import Payload


@sensor(
    job=export_report,
    minimum_interval_seconds=5,
    default_status=DefaultSensorStatus.RUNNING,
    description="Launches requests the API could not launch, fails reports whose run ended "
    "or vanished, terminates canceled reports' runs and removes their files.",
)
def reconcile_reports(
    context: SensorEvaluationContext, job_table: JobTableResource, store: ReportStoreResource
):
    if not job_table.ready():
        return SkipReason(NOT_READY)
    return reconcile(context, job_table, store, TICK_BUDGET_S)


# Before the API's (or `make up`'s) first start there is no job table to read: not an error.
NOT_READY = "the job table does not exist yet: the API creates it when it first starts"


# Dagster gives a sensor's tick 60 s; the reconciler ends its work within this.
TICK_BUDGET_S = 45.0
# A removal is at most this many requests to the store (list the open uploads, abort the
# one a dead run left, list the objects, delete the report's file)...
REMOVAL_REQUESTS = 4


def reconcile(
    context: SensorEvaluationContext,
    job_table: JobTableResource,
    store: ReportStoreResource,
    budget_s: float,
):
    """Applies every decision; a removal of files starts only while it can end within
    `budget_s` (each request connects and answers within `store.cleanup_timeout_s`, once),
    so the tick ends in time however slow the store is. The rest are removed next tick."""
    reports = job_table.table.unsettled()
    if not reports:
        return SkipReason("every report is settled")
    runs = runs_by_report(context.instance, [report.id for report in reports])
    one_removal_s = REMOVAL_REQUESTS * 2 * store.cleanup_timeout_s
    last_removal = time.monotonic() + budget_s - one_removal_s
    cleaner = store.cleaner()
    launches, now = [], utcnow()
    for report in reports:
        decision = decide(report, runs.get(report.id, []), now)
        may_remove = time.monotonic() < last_removal
        try:
            if isinstance(decision, Launch):
                launches.append(_launch(report))
            elif isinstance(decision, Discard) and not may_remove:
                continue  # next tick
            elif not isinstance(decision, Wait):
                _apply(
                    context, decision, report, job_table.lifecycle, cleaner if may_remove else None
                )
        except Exception:  # this report waits for the next tick; the others go on
            context.log.exception(f"could not settle report {report.id} ({decision}); will retry")
    return launches or SkipReason(f"{len(reports)} unsettled reports, none to launch")


def runs_by_report(instance: DagsterInstance, report_ids: Sequence[str]) -> dict[str, list]:
    runs: dict[str, list[RunState]] = {}
    for run in instance.get_runs(filters=RunsFilter(tags={TAG_REPORT_ID: list(report_ids)})):
        state = RunState(run.run_id, run.status)
        runs.setdefault(run.tags[TAG_REPORT_ID], []).append(state)
    return runs


def _launch(report: ReportRow) -> RunRequest:
    # The report id is the run key: the daemon never launches this sensor's request twice.
    return RunRequest(run_key=report.id, run_config=run_config(report.id), tags=run_tags(report))


def _apply(
    context: SensorEvaluationContext,
    decision: Fail | Terminate | Discard,
    report: ReportRow,
    lifecycle: Lifecycle,
    store: ReportStore | None,
) -> None:
    """`store` is None when there is no time left in this tick to remove files."""
    if isinstance(decision, Terminate):
        by = report.canceled_by
        who = (by.name or by.email or by.id) if by else "an admin"
        for run_id in decision.run_ids:
            context.instance.add_run_tags(run_id, outcome_tag(f"Canceled by {who}"))
            context.instance.run_coordinator.cancel_run(run_id)
        context.log.info(f"report {report.id} was canceled: terminating {decision.run_ids}")
    elif isinstance(decision, Discard):
        assert store is not None
        store.discard(report.store_prefix)
        lifecycle.mark_discarded(report.id)
        context.log.info(f"report {report.id} is {report.status.value}: its files are removed")
    elif decision.run_id is None:
        lifecycle.fail(report.id, decision.reason, run_id=None)
        context.log.info(f"report {report.id} failed: {decision.reason}")
    else:
        # Files first, so a report reads `failed` only once nothing of it is left; if the
        # store is down (or the tick has no time left) it still fails, and a later tick
        # removes the files.
        discarded = False
        if store is not None:
            try:
                store.discard(report.store_prefix)
                discarded = True
            except Exception:
                context.log.exception(f"could not remove the files of report {report.id} yet")
        marked = lifecycle.fail(
            report.id, decision.reason, run_id=decision.run_id, discarded=discarded
        )
        if marked and context.instance.has_run(decision.run_id):  # say why, on the run too
            context.instance.add_run_tags(decision.run_id, outcome_tag(decision.reason))
        context.log.info(f"report {report.id} {'failed' if marked else 'had moved on'}")


@sensor(
    job=export_report,
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description="Requests the export of every schedule that is due (once per due time; a "
    "firing the rate limit refuses is recorded as skipped) and launches its run.",
)
def fire_schedules(context: SensorEvaluationContext, job_table: JobTableResource):
    if not job_table.ready():
        return SkipReason(NOT_READY)
    schedules, now = job_table.schedules, utcnow()
    due = schedules.due(now)
    if not due:
        return SkipReason("no schedule is due")
    launches = []
    for schedule in due:
        try:
            firing = schedules.fire(schedule, now)
        except Exception:  # the others still fire; this one is due again next tick
            context.log.exception(f"could not fire schedule {schedule.id}; will retry")
            continue
        context.log.info(
            f"schedule {schedule.id} ({schedule.name}): {firing.outcome}, {firing.detail}"
        )
        report = job_table.table.get_by_id(firing.report_id) if firing.report_id else None
        if report is not None and report.status is Status.PENDING:
            launches.append(_launch(report))
    return launches or SkipReason(f"{len(due)} schedules due, nothing to launch")


@sensor(
    minimum_interval_seconds=10,
    default_status=DefaultSensorStatus.RUNNING,
    description="Sends due webhook deliveries (16 at once, 5 s each, for at most 30 s a "
    "tick; the rest next tick) and schedules the retries of those not answered with a 2xx.",
)
def deliver_webhooks(context: SensorEvaluationContext, job_table: JobTableResource):
    if not job_table.ready():
        return SkipReason(NOT_READY)
    tried = job_table.webhooks.deliver_due(report_payload(job_table.table))
    failed = [attempt for attempt in tried if attempt.error]
    for attempt in failed:
        context.log.warning(f"webhook attempt {attempt.number} failed: {attempt.error}")
    return SkipReason(f"{len(tried)} deliveries attempted, {len(failed)} to retry or failed")


def report_payload(table: JobTable) -> Payload:
    """A delivery's body: its event and the report as the API shows it (`Report`)."""

    def payload(event_id: str, event: str, report_id: str, at: datetime) -> dict[str, Any]:
        report = table.get_by_id(report_id)
        shown = ReportPublic.of(report).model_dump(mode="json") if report else None
        return {"id": event_id, "event": event, "occurred_at": at.isoformat(), "report": shown}

    return payload
