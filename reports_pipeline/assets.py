"""The replica's tables as assets, so data engineers see what exports read and when."""

from pathlib import Path

from dagster import AssetExecutionContext, AssetSpec, Config, MaterializeResult, multi_asset

from reports_pipeline.resources import ReplicaResource
from warehouse.generate import ReplicaSpec, generate
from warehouse.tables import TABLES


class ReplicaConfig(Config):
    orgs: int = 6
    chats_per_org: int = 25_000
    seed: int = 1


@multi_asset(
    specs=[
        AssetSpec(
            key=["replica", table],
            group_name="replica",
            kinds={"parquet", "duckdb"},
            description=f"CRM replica table `{table}`, hive-partitioned by organisation.",
        )
        for table in TABLES
    ],
    description="Regenerates the sample replica (local profile). In production the CRM's "
    "replication job writes these tables instead.",
)
def replica_tables(context: AssetExecutionContext, config: ReplicaConfig, replica: ReplicaResource):
    spec = ReplicaSpec(orgs=config.orgs, chats_per_org=config.chats_per_org, seed=config.seed)
    counts = generate(Path(replica.root), spec)
    for table, rows in counts.items():
        yield MaterializeResult(asset_key=["replica", table], metadata={"rows": rows})
