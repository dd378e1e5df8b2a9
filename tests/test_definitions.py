"""Smoke tests of the code location and the instance files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
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


def test_the_helm_values_deploy_the_same_instance_as_the_production_file() -> None:
    """What can be checked offline: the chart gets the same limits, monitoring and driver
    as `deploy/dagster.production.yaml`, and every run the code location's environment."""
    values = yaml.safe_load((REPO / "deploy/helm-values.yaml").read_text())
    instance = yaml.safe_load((REPO / "deploy/dagster.production.yaml").read_text())
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    coordinator = instance["run_coordinator"]["config"]
    assert queued["maxConcurrentRuns"] == coordinator["max_concurrent_runs"]
    assert queued["tagConcurrencyLimits"] == coordinator["tag_concurrency_limits"]
    monitoring = values["dagsterDaemon"]["runMonitoring"]
    for key, value in instance["run_monitoring"].items():
        camel = key.split("_")[0] + "".join(part.title() for part in key.split("_")[1:])
        assert monitoring[camel] == value, key
    assert (
        values["postgresql"]["postgresqlScheme"]
        == instance["storage"]["postgres"]["postgres_db"]["scheme"]
    )
    runs = values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]
    (location,) = values["dagster-user-deployments"]["deployments"]
    assert runs == location["envSecrets"]
    assert location["dagsterApiGrpcArgs"] == ["--module-name", "reports_pipeline.definitions"]


def test_the_settings_the_deployment_docs_name_are_read_by_the_code() -> None:
    from api.config import ApiSettings

    fields = {f"REPORTS_{name.upper()}" for name in ApiSettings.model_fields}
    text = (REPO / "deploy/README.md").read_text() + (REPO / "deploy/helm-values.yaml").read_text()
    named = set(re.findall(r"REPORTS_[A-Z0-9_]+", text))
    assert named and named <= fields, sorted(named - fields)


ALLOCATOR_PROBE = """
import importlib.abc, os, sys

class Probe(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in ("duckdb", "polars"):
            conf = (os.environ.get(v) for v in ("DUCKDB_JE_MALLOC_CONF", "_RJEM_MALLOC_CONF"))
            print(name, *conf)
        return None

sys.meta_path.insert(0, Probe())
import reports_pipeline.definitions
"""


def test_the_allocators_are_tuned_before_duckdb_and_polars_load() -> None:
    """jemalloc reads its settings when the library first allocates: the run worker, which
    imports the definitions, must have them in its environment by then."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("MALLOC_CONF")}
    out = subprocess.run(  # noqa: S603 - our own probe
        [sys.executable, "-c", ALLOCATOR_PROBE], env=env, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    first_seen = {line.split()[0]: line.split()[1:] for line in reversed(out) if line}
    tuned = ["dirty_decay_ms:200,muzzy_decay_ms:0"] * 2
    assert first_seen == {"duckdb": tuned, "polars": tuned}
