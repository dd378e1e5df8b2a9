"""What a data engineer sees in Dagster: the replica as observed, checked source tables,
exports as assets downstream of what they read, and runs that explain themselves."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, SensorResult, build_sensor_context

from reports_pipeline.assets import (
    EXPORTS,
    REPLICA_TABLES,
    check_replica,
    export_key,
    observe_replica,
    replica_key,
)
from reports_pipeline.contract import TAG_OUTCOME
from reports_pipeline.definitions import defs
from reports_pipeline.job_table import Requester
from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports import REPORT_TYPES
from reports_pipeline.request import REQUEST_MODELS, parse_request
from reports_pipeline.resources import JobTableResource, ReplicaResource
from tests.conftest import ORG, Exporter
from warehouse.invariants import INVARIANTS
from warehouse.tables import TABLES


def test_the_definitions_describe_the_replica_and_the_exports() -> None:
    graph = defs.resolve_asset_graph()
    assert {job.name for job in defs.resolve_all_job_defs()} >= {"export_report", "check_replica"}
    for spec in REPLICA_TABLES:
        node = graph.get(spec.key)
        assert not node.is_materializable  # observed, never written by Dagster
        assert node.group_name == "replica" and node.owners
    for spec in EXPORTS:
        node = graph.get(spec.key)
        report_type = REPORT_TYPES[spec.key.path[-1]]
        assert node.parent_keys == {replica_key(t) for t in report_type.reads}
        assert node.partitions_def is not None
    checks = {key.name for key in graph.asset_check_keys if key.asset_key == replica_key("chats")}
    assert {"chat_id_is_unique", "channel_id_resolves_in_channels"} <= checks


@pytest.mark.parametrize("name", REPORT_TYPES)
def test_an_export_reads_only_the_tables_its_asset_depends_on(replica: Path, name: str) -> None:
    example = REPORT_TYPES[name].example
    for body in ({"type": name}, example):
        request = parse_request(REQUEST_MODELS[name].model_validate(body).document())
        with ReplicaReader(replica, ORG) as reader:
            export = REPORT_TYPES[name].export(reader, request, 500)
            for _ in export.batches:
                pass
            assert reader.tables_read <= REPORT_TYPES[name].reads, body


def observe(root: Path, cursor: str | None = None) -> SensorResult:
    context = build_sensor_context(
        cursor=cursor, resources={"replica": ReplicaResource(root=str(root))}
    )
    result = observe_replica(context)
    assert isinstance(result, SensorResult)
    return result


def test_the_replica_is_observed_per_organisation_and_only_when_it_changes(
    replica: Path, catalog: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    root = tmp_path / "replica"
    shutil.copytree(replica, root)
    first = observe(root)
    assert {e.asset_key for e in first.asset_events} == {replica_key(t) for t in TABLES}
    chats = next(e for e in first.asset_events if e.asset_key == replica_key("chats"))
    by_org = dict(catalog.execute("SELECT org_id, count(*) FROM chats GROUP BY 1").fetchall())
    assert chats.metadata["rows_by_organisation"].value == by_org
    assert chats.metadata["dagster/row_count"].value == sum(by_org.values())
    assert observe(root, first.cursor).asset_events == []  # nothing changed
    changed = next((root / "tickets").glob("*/*.parquet"))
    os.utime(changed, (changed.stat().st_atime, changed.stat().st_mtime + 60))
    again = observe(root, first.cursor)
    assert [e.asset_key for e in again.asset_events] == [replica_key("tickets")]


def run_checks(root: Path) -> dict[tuple[str, str], bool]:
    result = defs.resolve_job_def(check_replica.name).execute_in_process(
        resources={"replica": ReplicaResource(root=str(root))}, raise_on_error=False
    )
    return {
        (e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()
    }


def test_the_hourly_checks_pass_on_a_sound_replica_and_catch_a_broken_one(
    replica: Path, tmp_path: Path
) -> None:
    results = run_checks(replica)
    assert len(results) == len(INVARIANTS) and all(results.values())
    broken = tmp_path / "replica"
    shutil.copytree(replica, broken)
    partition = broken / "chats" / f"org_id={ORG}"
    shutil.copy(next(partition.glob("*.parquet")), partition / "duplicate.parquet")
    results = run_checks(broken)
    assert results[("chats", "chat_id_is_unique")] is False
    assert results[("tickets", "ticket_id_is_unique")] is True


def test_a_completed_export_is_a_materialization_of_its_types_asset(
    export: Exporter, export_instance: DagsterInstance
) -> None:
    out = export("ticket", {"priorities": {"values": ["high"]}})
    events = export_instance.fetch_materializations(export_key("ticket"), limit=5).records
    (event,) = [
        e for e in events if e.asset_materialization.metadata["report_id"].value == out.report.id
    ]
    materialization = event.asset_materialization
    assert materialization.partition == ORG
    assert materialization.metadata["rows"].value == out.report.row_count
    assert materialization.metadata["bytes"].value == out.report.file_size_bytes
    assert materialization.metadata["format"].value == "csv"
    assert materialization.metadata["report"].value.endswith(f"/reports/{ORG}/{out.report.id}")
    assert export_instance.get_dynamic_partitions("organisations") == [ORG]


def test_a_failed_run_says_why_in_a_tag_and_its_last_log_line(
    export: Exporter,
    export_instance: DagsterInstance,
    export_job_table: JobTableResource,
) -> None:
    report = export_job_table.lifecycle.request(
        ORG, parse_request({"type": "ticket"}), Requester("u", name="Ana Admin")
    )
    # A stored request the run can no longer read: the run fails it with a plain reason.
    with export_job_table.table.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE reports SET request = ? WHERE id = ?",
            ('{"type": "ticket", "oops": 1}', report.id),
        )
    out = export.run_report(report, expect_success=False)
    assert out.report.error.startswith("the stored request is not valid")
    (run,) = export_instance.get_runs()[:1]
    assert run.tags[TAG_OUTCOME] == out.report.error[:200]
    assert run.tags["reports/requested_by_name"] == "Ana Admin"
    logs = [e.message for e in export_instance.all_logs(run.run_id) if e.message]
    assert any(out.report.error in m for m in logs)
    recorded = export_instance.fetch_materializations(export_key("ticket"), limit=5).records
    assert all(r.asset_materialization.metadata["report_id"].value != report.id for r in recorded)
