"""Smoke tests of the code location and the instance files."""

from __future__ import annotations

from pathlib import Path

import yaml
from dagster import DagsterInstance, build_sensor_context

from reports_pipeline.definitions import defs

REPO = Path(__file__).resolve().parent.parent


def test_every_job_sensor_and_asset_resolves() -> None:
    assert defs.resolve_job_def("export_report").name == "export_report"
    for name in (
        "launch_pending_reports",
        "fail_reports_of_failed_runs",
        "fail_reports_of_cancelled_runs",
    ):
        assert defs.resolve_sensor_def(name).name == name
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"replica/chats", "replica/messages", "replica/goal_events"} <= keys


def test_instance_files_are_valid_dagster_config(tmp_path: Path) -> None:
    for name in ("dagster.yaml", "deploy/dagster.production.yaml"):
        config = yaml.safe_load((REPO / name).read_text())
        assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
        limits = config["run_coordinator"]["config"]["tag_concurrency_limits"]
        assert limits[0]["key"] == "reports/organisation"
    (tmp_path / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"


def test_launch_sensor_launches_a_pending_request_once(tmp_path: Path) -> None:
    from datetime import timedelta

    from reports_pipeline.job_table import (
        JobTable,
        NewReport,
        Requester,
        make_engine,
        migrate,
        utcnow,
    )
    from reports_pipeline.resources import JobTableResource
    from reports_pipeline.sensors import launch_pending_reports

    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    migrate(make_engine(url))
    table = JobTable(make_engine(url))
    old = table.create(
        NewReport("org_001", "ticket", {"search": "x"}, "UTC", Requester("u")),
        now=utcnow() - timedelta(minutes=1),
    )
    fresh = table.create(NewReport("org_001", "chat", {}, "UTC", Requester("u")))
    with build_sensor_context(resources={"job_table": JobTableResource(database_url=url)}) as ctx:
        requests = launch_pending_reports(ctx)
    assert [r.run_key for r in requests] == [old.id]
    assert requests[0].tags["reports/report_id"] == old.id
    assert fresh.id not in {r.run_key for r in requests}
