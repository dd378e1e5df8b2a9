"""The reconciler: its decisions as a table, then the sensor against a real Dagster
instance (the repository's dagster.yaml), the real S3 server and both job-table back ends.
Runs are recorded in the instance with the status each case needs."""

from __future__ import annotations

import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    build_sensor_context,
)
from dagster._core.remote_origin import (
    RegisteredCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster_aws.s3 import S3Resource

from devstack import REPO, Stack
from reports_pipeline.contract import TAG_OUTCOME, run_tags
from reports_pipeline.job_table import JobTable, ReportRow, Requester, Status, utcnow
from reports_pipeline.lifecycle import Lifecycle
from reports_pipeline.reconcile import (
    LAUNCH_BOUND,
    LAUNCH_GRACE,
    NEVER_STARTED,
    NOT_LAUNCHED,
    RUN_DELETED,
    RUN_ENDED,
    Decision,
    Discard,
    Fail,
    Launch,
    RunState,
    Terminate,
    Wait,
    decide,
)
from reports_pipeline.request import parse_request
from reports_pipeline.resources import JobTableResource, ReportStoreResource
from reports_pipeline.sensors import reconcile, reconcile_reports
from reports_pipeline.storage import ReportStore
from tests.conftest import s3_resource

S = DagsterRunStatus
NOW = utcnow()


def row(status: Status, *, age: timedelta = timedelta(0), run: str | None = None) -> ReportRow:
    return ReportRow(
        id="r1",
        organisation_id="org_001",
        type="ticket",
        status=status,
        request={"type": "ticket"},
        requested_by=Requester("u"),
        created_at=NOW - age,
        started_at=None,
        completed_at=None,
        rows_written=0,
        row_count=None,
        file_size_bytes=None,
        file_name=None,
        object_key=None,
        error=None,
        dagster_run_id=run,
        canceled_at=None,
        canceled_by=None,
        discarded_at=None,
    )


R = RunState
PENDING, PROCESSING, CANCELED, FAILED = (
    Status.PENDING,
    Status.PROCESSING,
    Status.CANCELED,
    Status.FAILED,
)
QUEUED_OR_STARTING = Wait("its run is queued or starting")


@pytest.mark.fast
@pytest.mark.parametrize(
    "report,runs,decision",
    [
        (row(PENDING), [], Wait("the API is launching it")),
        (row(PENDING, age=LAUNCH_GRACE), [], Launch()),
        (row(PENDING, age=LAUNCH_BOUND + timedelta(1)), [], Fail(NOT_LAUNCHED, None)),
        (row(PENDING, age=timedelta(hours=3)), [R("a", S.QUEUED)], QUEUED_OR_STARTING),
        (row(PENDING), [R("a", S.FAILURE)], Fail(NEVER_STARTED, None)),
        (row(PENDING), [R("a", S.SUCCESS), R("b", S.STARTING)], QUEUED_OR_STARTING),
        (row(PROCESSING, run="a"), [R("a", S.STARTED)], Wait("its run is exporting")),
        (row(PROCESSING, run="a"), [R("a", S.CANCELING)], Wait("its run is exporting")),
        (row(PROCESSING, run="a"), [R("a", S.FAILURE)], Fail(RUN_ENDED[S.FAILURE], "a")),
        (row(PROCESSING, run="a"), [R("a", S.CANCELED)], Fail(RUN_ENDED[S.CANCELED], "a")),
        (row(PROCESSING, run="a"), [R("a", S.SUCCESS)], Fail(RUN_ENDED[S.SUCCESS], "a")),
        (row(PROCESSING, run="a"), [R("b", S.STARTED)], Fail(RUN_DELETED, "a")),
        (row(CANCELED, run="a"), [R("a", S.STARTED), R("b", S.QUEUED)], Terminate(("a", "b"))),
        (row(CANCELED), [R("a", S.CANCELED)], Discard()),
        (row(CANCELED), [], Discard()),
        (row(FAILED, run="a"), [R("a", S.STARTED)], Wait("its run is ending")),
        (row(FAILED, run="a"), [R("a", S.FAILURE)], Discard()),
        (row(Status.COMPLETED, run="a"), [R("a", S.SUCCESS)], Wait("it is settled")),
    ],
)
def test_what_the_reconciler_decides(
    report: ReportRow, runs: list[RunState], decision: Decision
) -> None:
    assert decide(report, runs, NOW) == decision


# ----------------------------------------------------------------- the sensor, for real


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    with DagsterInstance.from_config(str(home)) as instance:
        yield instance


@pytest.fixture
def lifecycle(job_table: JobTable) -> Lifecycle:
    return Lifecycle(job_table.engine)


def store_resource(stack: Stack, bucket: str) -> ReportStoreResource:
    return ReportStoreResource(s3=s3_resource(stack), bucket=bucket)


def sensor_context(
    instance: DagsterInstance, database_url: str, store: ReportStoreResource
) -> SensorEvaluationContext:
    resources = {"job_table": JobTableResource(database_url=database_url), "store": store}
    return build_sensor_context(instance=instance, resources=resources)


def tick(
    instance: DagsterInstance, database_url: str, store: ReportStoreResource
) -> list[RunRequest] | SkipReason:
    with sensor_context(instance, database_url, store) as context:
        return reconcile_reports(context)  # type: ignore[no-any-return]


# Dagster records a queued run only with the code location it came from.
ORIGIN = RemoteJobOrigin(
    RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("reports"), "__repository__"),
    "export_report",
)


def record_run(instance: DagsterInstance, report: ReportRow, status: DagsterRunStatus) -> str:
    return record_run_with_id(instance, report, str(uuid.uuid4()), status)


def record_run_with_id(
    instance: DagsterInstance, report: ReportRow, run_id: str, status: DagsterRunStatus
) -> str:
    run = DagsterRun(
        job_name="export_report",
        run_id=run_id,
        status=status,
        tags=run_tags(report),
        remote_job_origin=ORIGIN,
    )
    instance.add_run(run)
    return run_id


def request(lifecycle: Lifecycle, *, age: timedelta = timedelta(0)) -> ReportRow:
    return lifecycle.request(
        "org_001", parse_request({"type": "ticket"}), Requester("u"), now=utcnow() - age
    )


def leave_files(store: ReportStore, report: ReportRow) -> None:
    """What a dead run can leave: an open multipart upload and a finished object."""
    store.client.create_multipart_upload(Bucket=store.bucket, Key=report.store_prefix + "a.csv")
    store.upload_stream(report.store_prefix + "b.csv", iter([b"x"]))


def files_of(store: ReportStore, report: ReportRow) -> int:
    prefix = report.store_prefix
    objects = store.client.list_objects_v2(Bucket=store.bucket, Prefix=prefix)["KeyCount"]
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=prefix)
    # some stores ignore Prefix here (as `ReportStore.discard` notes)
    mine = [u for u in uploads.get("Uploads", []) if u["Key"].startswith(prefix)]
    return int(objects) + len(mine)


def read(job_table: JobTable, report: ReportRow) -> ReportRow:
    found = job_table.get_by_id(report.id)
    assert found is not None
    return found


def test_a_request_the_api_could_not_launch_is_launched_once_by_its_id(
    instance: DagsterInstance,
    job_table: JobTable,
    lifecycle: Lifecycle,
    database_url: str,
    store: ReportStore,
    s3_server: Stack,
) -> None:
    resource = store_resource(s3_server, store.bucket)
    stale = request(lifecycle, age=LAUNCH_GRACE + timedelta(seconds=1))
    launches = tick(instance, database_url, resource)
    assert isinstance(launches, list)
    assert [(r.run_key, r.run_config) for r in launches] == [
        (stale.id, {"ops": {"export": {"config": {"report_id": stale.id}}}})
    ]
    assert launches[0].tags == run_tags(stale)
    record_run(instance, stale, S.QUEUED)  # the daemon made the run
    assert isinstance(tick(instance, database_url, resource), SkipReason)


def test_a_tick_that_raises_is_done_again_by_the_next(
    instance: DagsterInstance,
    job_table: JobTable,
    lifecycle: Lifecycle,
    database_url: str,
    store: ReportStore,
    s3_server: Stack,
    tmp_path: Path,
) -> None:
    """Run-status sensors moved their cursor past a failed tick and never came back; the
    reconciler has no cursor, so the next tick finds the report as it left it."""
    resource = store_resource(s3_server, store.bucket)
    report = request(lifecycle)
    assert lifecycle.claim(report.id, "dead-run")
    instance.add_run(
        DagsterRun(
            job_name="export_report", run_id="dead-run", status=S.FAILURE, tags=run_tags(report)
        )
    )
    leave_files(store, report)
    unreachable = f"sqlite:///{tmp_path / 'no-such-dir' / 'jobs.db'}"
    with pytest.raises(Exception, match="unable to open database file"):
        tick(instance, unreachable, resource)
    assert read(job_table, report).status is Status.PROCESSING

    tick(instance, database_url, resource)
    failed = read(job_table, report)
    assert (failed.status, failed.error) == (Status.FAILED, RUN_ENDED[S.FAILURE])
    assert failed.discarded_at is not None
    dead = instance.get_run_by_id("dead-run")
    assert dead is not None and dead.tags[TAG_OUTCOME] == failed.error  # seen in the UI
    assert files_of(store, report) == 0
    assert job_table.unsettled() == []


def test_files_the_store_could_not_remove_are_removed_by_a_later_tick(
    instance: DagsterInstance,
    job_table: JobTable,
    lifecycle: Lifecycle,
    database_url: str,
    store: ReportStore,
    s3_server: Stack,
) -> None:
    report = request(lifecycle)
    assert lifecycle.claim(report.id, "dead-run")
    instance.add_run(
        DagsterRun(
            job_name="export_report", run_id="dead-run", status=S.FAILURE, tags=run_tags(report)
        )
    )
    leave_files(store, report)
    unreachable = S3Resource(
        endpoint_url="http://127.0.0.1:9", region_name="us-east-1", max_attempts=1
    )
    tick(instance, database_url, ReportStoreResource(s3=unreachable, bucket=store.bucket))
    failed = read(job_table, report)
    assert (failed.status, failed.discarded_at) == (Status.FAILED, None)  # failed all the same
    assert files_of(store, report) == 2

    tick(instance, database_url, store_resource(s3_server, store.bucket))
    assert read(job_table, report).discarded_at is not None
    assert files_of(store, report) == 0


def test_a_report_whose_run_was_deleted_fails(
    instance: DagsterInstance,
    job_table: JobTable,
    lifecycle: Lifecycle,
    database_url: str,
    store: ReportStore,
    s3_server: Stack,
) -> None:
    report = request(lifecycle)
    assert lifecycle.claim(report.id, "deleted-run")
    tick(instance, database_url, store_resource(s3_server, store.bucket))
    assert read(job_table, report).error == RUN_DELETED


def test_a_canceled_reports_queued_run_is_terminated_then_its_files_removed(
    instance: DagsterInstance,
    job_table: JobTable,
    lifecycle: Lifecycle,
    database_url: str,
    store: ReportStore,
    s3_server: Stack,
) -> None:
    resource = store_resource(s3_server, store.bucket)
    report = request(lifecycle)
    queued = record_run(instance, report, S.QUEUED)
    assert lifecycle.cancel("org_001", report.id, Requester("admin"))
    tick(instance, database_url, resource)
    run = instance.get_run_by_id(queued)
    assert run is not None and run.status is S.CANCELED
    assert run.tags[TAG_OUTCOME] == "Canceled by admin"
    assert read(job_table, report).discarded_at is None
    tick(instance, database_url, resource)
    assert read(job_table, report).discarded_at is not None
    assert read(job_table, report).status is Status.CANCELED


@pytest.fixture
def silent_store() -> Iterator[str]:
    """An endpoint that takes connections and never answers: a store that hangs."""
    with socket.create_server(("127.0.0.1", 0), backlog=512) as server:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def test_a_tick_ends_in_time_however_slow_the_store_and_later_ticks_remove_every_file(
    instance: DagsterInstance,
    job_table: JobTable,
    lifecycle: Lifecycle,
    database_url: str,
    store: ReportStore,
    s3_server: Stack,
    silent_store: str,
) -> None:
    reports = []
    for i in range(30):  # one organisation each: the rate limit allows one at a time
        report = lifecycle.request(
            f"org_{i:03d}", parse_request({"type": "ticket"}), Requester("u")
        )
        assert lifecycle.claim(report.id, f"dead-{report.id}")
        record_run_with_id(instance, report, f"dead-{report.id}", S.FAILURE)
        leave_files(store, report)
        reports.append(report)
    hanging = ReportStoreResource(
        s3=S3Resource(endpoint_url=silent_store, region_name="us-east-1", max_attempts=1),
        bucket=store.bucket,
        cleanup_timeout_s=0.2,
    )
    budget_s = 3.0
    started = time.monotonic()
    with sensor_context(instance, database_url, hanging) as context:
        reconcile(context, JobTableResource(database_url=database_url), hanging, budget_s)
    assert time.monotonic() - started < budget_s
    after = [read(job_table, r) for r in reports]
    assert {r.status for r in after} == {Status.FAILED}  # every report failed all the same
    assert all(r.discarded_at is None for r in after)  # no removal could finish
    assert sum(files_of(store, r) for r in reports) == 60

    resource = store_resource(s3_server, store.bucket)
    for _ in range(3):
        if not job_table.unsettled():
            break
        tick(instance, database_url, resource)
    assert job_table.unsettled() == []
    assert sum(files_of(store, r) for r in reports) == 0


def test_before_the_job_table_exists_every_sensor_skips_without_an_error(
    tmp_path: Path,
) -> None:
    """A fresh Dagster home may tick before the API's first start has created the table."""
    from reports_pipeline.job_table import make_engine, migrate
    from reports_pipeline.sensors import NOT_READY, deliver_webhooks, fire_schedules

    database_url = f"sqlite:///{tmp_path / 'jobs.db'}"
    unreachable = S3Resource(endpoint_url="http://127.0.0.1:9", region_name="us-east-1")
    store = ReportStoreResource(s3=unreachable, bucket="none")
    with DagsterInstance.ephemeral() as instance:
        for sensor in (reconcile_reports, fire_schedules, deliver_webhooks):
            with sensor_context(instance, database_url, store) as context:
                skipped = sensor(context)
            assert isinstance(skipped, SkipReason) and skipped.skip_message == NOT_READY
        migrate(make_engine(database_url))
        with sensor_context(instance, database_url, store) as context:
            assert fire_schedules(context).skip_message == "no schedule is due"
