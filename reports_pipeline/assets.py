"""Dagster's view of the data: the replica as observed source tables with checks, and the
exports as assets downstream of the tables they read.

- `replica/<table>`: external assets. The CRM's replication (or, locally, `make up`'s
  sample generator) writes them; Dagster never does, so nothing here can overwrite a
  production replica. `observe_replica` records each table's row counts per organisation
  and last change as observations; a freshness check warns when a table has not changed
  for `REPORTS_REPLICA_MAX_AGE_HOURS`; `check_replica` runs the replica's invariants
  (`warehouse/invariants.py`) every hour as asset checks.
- `exports/<type>`: one asset per report type, partitioned by organisation, downstream of
  the tables the type reads. Every completed export records a materialization of its
  type's asset in its organisation's partition (rows, bytes, format, report id).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetObservation,
    AssetSelection,
    AssetSpec,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    DynamicPartitionsDefinition,
    MetadataValue,
    ScheduleDefinition,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    build_last_update_freshness_checks,
    build_sensor_for_freshness_checks,
    define_asset_job,
    multi_asset_check,
    sensor,
)

from reports_pipeline.reports import REPORT_TYPES
from reports_pipeline.resources import ReplicaResource
from warehouse.catalog import connect_views
from warehouse.invariants import INVARIANTS
from warehouse.location import ReplicaLocation
from warehouse.tables import TABLES

OWNERS = ["team:crm-reports"]
ORGANISATIONS_PARTITIONS = "organisations"
ORGANISATIONS = DynamicPartitionsDefinition(name=ORGANISATIONS_PARTITIONS)


def replica_key(table: str) -> AssetKey:
    return AssetKey(["replica", table])


def export_key(report_type: str) -> AssetKey:
    return AssetKey(["exports", report_type])


REPLICA_TABLES = [
    AssetSpec(
        replica_key(table),
        group_name="replica",
        kinds={"parquet", "duckdb"},
        owners=OWNERS,
        description=f"CRM replica table `{table}`, hive-partitioned by organisation and "
        f"sorted by ({order}) inside each partition. Written by the CRM's replication, "
        "observed by Dagster.",
        metadata={"sort_order": order},
    )
    for table, order in TABLES.items()
]

EXPORTS = [
    AssetSpec(
        export_key(name),
        group_name="exports",
        kinds={"s3"},
        owners=OWNERS,
        deps=[replica_key(table) for table in sorted(report_type.reads)],
        partitions_def=ORGANISATIONS,
        description=f"{report_type.label} exports: {report_type.description} One "
        "materialization per completed export, in its organisation's partition.",
    )
    for name, report_type in REPORT_TYPES.items()
]


# ---------------------------------------------------------------- observations


def table_state(location: ReplicaLocation, table: str) -> dict[str, Any]:
    """Rows per organisation (from the Parquet footers, no data read) and the last change."""
    files = location.files(location.table_glob(table))
    if not files:
        return {"rows": 0, "rows_by_organisation": {}, "last_modified": 0.0, "files": 0}
    with duckdb.connect() as con:
        location.attach(con)
        footers = con.execute(
            "SELECT file_name, num_rows FROM parquet_file_metadata($files)",
            {"files": [f.path for f in files]},
        ).fetchall()
    by_org: dict[str, int] = {}
    for file_name, rows in footers:
        org = Path(file_name).parent.name.removeprefix("org_id=")
        by_org[org] = by_org.get(org, 0) + int(rows)
    return {
        "rows": sum(by_org.values()),
        "rows_by_organisation": dict(sorted(by_org.items())),
        "last_modified": max(f.modified for f in files),
        "files": len(files),
    }


def _observation(table: str, state: dict[str, Any]) -> AssetObservation:
    return AssetObservation(
        asset_key=replica_key(table),
        metadata={
            "dagster/row_count": MetadataValue.int(state["rows"]),
            "dagster/last_updated_timestamp": MetadataValue.timestamp(state["last_modified"]),
            "rows_by_organisation": MetadataValue.json(state["rows_by_organisation"]),
            "organisations": len(state["rows_by_organisation"]),
            "files": state["files"],
        },
    )


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Observes the replica tables: rows per organisation and last change, "
    "recorded only when a table changed since the last tick.",
)
def observe_replica(context: SensorEvaluationContext, replica: ReplicaResource) -> SensorResult:
    seen: dict[str, list[Any]] = json.loads(context.cursor) if context.cursor else {}
    events = []
    for table in TABLES:
        state = table_state(replica.location, table)
        fingerprint = [state["last_modified"], state["rows"], state["files"]]
        if seen.get(table) != fingerprint:
            events.append(_observation(table, state))
            seen[table] = fingerprint
    return SensorResult(asset_events=events, cursor=json.dumps(seen, sort_keys=True))


# ---------------------------------------------------------------- checks


def replica_freshness(
    max_age_hours: float,
) -> tuple[list[AssetChecksDefinition], SensorDefinition]:
    """A check per table that warns when it has not changed for `max_age_hours`, and the
    sensor that evaluates them."""
    checks = list(
        build_last_update_freshness_checks(
            assets=[spec.key for spec in REPLICA_TABLES],
            lower_bound_delta=timedelta(hours=max_age_hours),
        )
    )
    evaluator = build_sensor_for_freshness_checks(
        freshness_checks=checks,
        name="replica_freshness",
        default_status=DefaultSensorStatus.RUNNING,
    )
    return checks, evaluator


@multi_asset_check(
    specs=[
        AssetCheckSpec(
            invariant.name,
            asset=replica_key(invariant.table),
            description=invariant.description,
        )
        for invariant in INVARIANTS
    ],
    description="The replica's invariants (warehouse/invariants.py), over every organisation.",
)
def replica_invariants(replica: ReplicaResource) -> Iterator[AssetCheckResult]:
    with connect_views(replica.location) as catalog:
        for invariant in INVARIANTS:
            violations = invariant.violations(catalog)
            yield AssetCheckResult(
                check_name=invariant.name,
                asset_key=replica_key(invariant.table),
                passed=violations == 0,
                severity=AssetCheckSeverity.ERROR,
                metadata={"violations": violations},
                description=None if violations == 0 else f"{violations} rows break it",
            )


check_replica = define_asset_job(
    "check_replica",
    selection=AssetSelection.checks(replica_invariants),
    description="Runs the replica's data-quality checks.",
)
check_replica_hourly = ScheduleDefinition(
    job=check_replica, cron_schedule="0 * * * *", default_status=DefaultScheduleStatus.RUNNING
)
