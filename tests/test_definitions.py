"""Smoke tests of the code location and the instance files."""

from __future__ import annotations

from pathlib import Path

import yaml
from dagster import DagsterInstance

from reports_pipeline.definitions import defs

REPO = Path(__file__).resolve().parent.parent


def test_every_job_sensor_and_asset_resolves() -> None:
    assert defs.resolve_job_def("export_report").name == "export_report"
    assert defs.resolve_sensor_def("reconcile_reports").name == "reconcile_reports"
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
