"""Sensors that keep the job table true: launch what was never launched, fail what died."""

from datetime import timedelta

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    run_status_sensor,
    sensor,
)

from reports_pipeline.export import TAG_REPORT_ID, export_report, run_config, run_tags
from reports_pipeline.job_table import Status, utcnow
from reports_pipeline.resources import JobTableResource, ReportStoreResource

# The API launches a run right after recording the request; only requests older than this
# without a recorded run are the sensor's to launch (Dagster was unreachable).
LAUNCH_GRACE = timedelta(seconds=15)


@sensor(
    job=export_report,
    minimum_interval_seconds=5,
    default_status=DefaultSensorStatus.RUNNING,
    description="Launches pending report requests whose run was never recorded.",
)
def launch_pending_reports(context: SensorEvaluationContext, job_table: JobTableResource):
    pending = job_table.table.pending_unlaunched(older_than=utcnow() - LAUNCH_GRACE)
    if not pending:
        return SkipReason("no pending request is waiting for a launch")
    # The report id is the run key: Dagster never launches the same request twice.
    return [
        RunRequest(
            run_key=report.id,
            run_config=run_config(
                report.id, report.organisation_id, report.type, report.filters, report.timezone
            ),
            tags=run_tags(report.id, report.organisation_id, report.type),
        )
        for report in pending
    ]


def _close_failed_report(
    context: RunStatusSensorContext,
    reason: str,
    job_table: JobTableResource,
    store: ReportStoreResource,
) -> None:
    """Fail the run's report unless it finished, and leave nothing of it in the store."""
    run_id = context.dagster_run.run_id
    report_id = context.dagster_run.tags.get(TAG_REPORT_ID)
    report = job_table.table.get_by_id(report_id) if report_id else None
    if report is None:
        context.log.warning(f"run {run_id} has no report in the job table")
        return
    if report.dagster_run_id not in (None, run_id):
        context.log.info(f"report {report.id} belongs to run {report.dagster_run_id}; left alone")
        return
    # Files go first, so a report reads `failed` only once nothing of it is left in the store.
    try:
        if report.status is not Status.COMPLETED:  # the run is over: its status cannot move
            store.store().discard(f"reports/{report.organisation_id}/{report.id}/")
    finally:
        marked = job_table.table.fail(report.id, reason)
    context.log.info(f"report {report.id} {'marked failed' if marked else 'already finished'}")


@run_failure_sensor(
    monitored_jobs=[export_report],
    default_status=DefaultSensorStatus.RUNNING,
    description="Marks the report of a failed or lost run as failed and aborts its upload.",
)
def fail_reports_of_failed_runs(
    context: RunFailureSensorContext, job_table: JobTableResource, store: ReportStoreResource
) -> None:
    # The op records a precise reason itself; this covers runs that died without one.
    reason = "The export run stopped unexpectedly before finishing. Please request it again."
    _close_failed_report(context, reason, job_table, store)


@run_status_sensor(
    run_status=DagsterRunStatus.CANCELED,
    monitored_jobs=[export_report],
    default_status=DefaultSensorStatus.RUNNING,
    description="Marks the report of a cancelled run as failed.",
)
def fail_reports_of_cancelled_runs(
    context: RunStatusSensorContext, job_table: JobTableResource, store: ReportStoreResource
) -> None:
    _close_failed_report(
        context, "The export run was cancelled. Please request it again.", job_table, store
    )
