"""The production profile, where it can run here: Dagster's PostgreSQL run, event and
schedule storage from `deploy/dagster.production.yaml` against the machine's PostgreSQL,
and an export completed through the daemon on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from dagster import DagsterInstance, RunsFilter

from devstack import REPO, Ports, Stack
from reports_pipeline.contract import TAG_REPORT_ID
from tests.conftest import SECRET, auth, fresh_database
from tests.eventually import eventually
from tests.test_e2e import wait_for

PRODUCTION = REPO / "deploy" / "dagster.production.yaml"


@pytest.fixture
def dagster_database() -> Iterator[dict[str, str]]:
    """A fresh database for Dagster's storage, as the `DAGSTER_PG_*` settings name it."""
    with fresh_database("dagster") as url:
        yield {
            "DAGSTER_PG_HOST": url.host or "127.0.0.1",
            "DAGSTER_PG_USERNAME": url.username or "postgres",
            "DAGSTER_PG_PASSWORD": url.password or "",
            "DAGSTER_PG_DB": str(url.database),
        }


@pytest.fixture
def jobs_database() -> Iterator[str]:
    """The job table's own database (Dagster's storage has an `alembic_version` too)."""
    with fresh_database("jobs") as url:
        yield url.render_as_string(hide_password=False)


def test_the_production_instance_file_builds_its_storage_and_ecs_launcher(
    dagster_database: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**dagster_database, "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "dagster.yaml").write_text(PRODUCTION.read_text())
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        parts = {
            "runs": instance.run_storage,
            "events": instance.event_log_storage,
            "schedules": instance.schedule_storage,
            "coordinator": instance.run_coordinator,
            "launcher": instance.run_launcher,  # built offline: no ECS call until a launch
        }
        assert {part: type(obj).__name__ for part, obj in parts.items()} == {
            "runs": "PostgresRunStorage",
            "events": "PostgresEventLogStorage",
            "schedules": "PostgresScheduleStorage",
            "coordinator": "QueuedRunCoordinator",
            "launcher": "EcsRunLauncher",
        }
        assert instance.get_runs(limit=1) == []  # its tables exist in PostgreSQL


def production_without_ecs(tmp_path: Path) -> Path:
    """The production instance file with Dagster's default launcher (a process per run on
    this machine) in place of ECS, which cannot run here; everything else as deployed."""
    config = yaml.safe_load(PRODUCTION.read_text())
    del config["run_launcher"]
    path = tmp_path / "dagster.production-here.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_an_export_runs_through_the_daemon_on_postgres_storage(
    dagster_database: dict[str, str],
    e2e_replica: Path,
    jobs_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in dagster_database.items():  # this process reads the instance too
        monkeypatch.setenv(name, value)
    stack = Stack(
        home=tmp_path / "stack",
        replica=e2e_replica,
        ports=Ports.free(),
        database_url=jobs_database,
        dagster_config=production_without_ecs(tmp_path),
        extra_env={"REPORTS_ENV": "test", "REPORTS_JWT_SECRET": SECRET, **dagster_database},
    )
    base = "/api/wp-crm/reports/org_002"
    try:
        stack.start()
        body = {"type": "ticket", "filters": {}, "timezone": "UTC"}
        answer = httpx.post(f"{stack.api_url}{base}", json=body, headers=auth("org_002"))
        assert answer.status_code == 202, answer.text
        report_id = answer.json()["id"]
        done = wait_for(stack, "org_002", report_id, {"completed", "failed"})
        assert done["status"] == "completed", done
        assert download(stack, base, report_id)
        with DagsterInstance.from_config(str(stack.dagster_home)) as instance:
            # The report completes inside the run; the run ends just after.
            def ended() -> list[str] | None:
                tagged = RunsFilter(tags={TAG_REPORT_ID: report_id})
                statuses = [run.status.value for run in instance.get_runs(filters=tagged)]
                return statuses if statuses and "STARTED" not in statuses else None

            assert eventually(ended, f"the run of report {report_id} ended") == ["SUCCESS"]
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    finally:
        stack.stop()


def download(stack: Stack, base: str, report_id: str) -> bytes:
    link = httpx.get(f"{stack.api_url}{base}/{report_id}/download", headers=auth("org_002"))
    assert link.status_code == 200, link.text
    file = httpx.get(link.json()["url"])
    assert file.status_code == 200 and file.content
    return file.content


def test_the_instance_reads_its_password_from_the_environment_only() -> None:
    """No secret is written into the instance file: every credential is an `env:`."""
    storage = yaml.safe_load(PRODUCTION.read_text())["storage"]["postgres"]["postgres_db"]
    assert {key: value for key, value in storage.items() if key not in ("port", "scheme")} == {
        "hostname": {"env": "DAGSTER_PG_HOST"},
        "username": {"env": "DAGSTER_PG_USERNAME"},
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "db_name": {"env": "DAGSTER_PG_DB"},
    }
