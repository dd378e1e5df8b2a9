"""The DuckDB catalog: one view per replica table over its Parquet files.

Data engineers open `replica.duckdb` for ad-hoc SQL; exports read the Parquet files
directly, one organisation's partition at a time.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from warehouse.location import ReplicaLocation
from warehouse.tables import TABLES

CATALOG_FILE = "replica.duckdb"


def build_catalog(root: Path) -> Path:
    """(Re)create `replica.duckdb` under `root` with a view per table."""
    path = root / CATALOG_FILE
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        _create_views(con, root)
    return path


def connect_views(root: Path | ReplicaLocation) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the catalog's views, for a replica that has Parquet
    files but no catalog file (a production replica written by the CRM's replication, on
    disk or in S3)."""
    con = duckdb.connect()
    _create_views(con, root)
    return con


def _create_views(con: duckdb.DuckDBPyConnection, root: Path | ReplicaLocation) -> None:
    location = root if isinstance(root, ReplicaLocation) else ReplicaLocation.of(root)
    location.attach(con)
    for table in TABLES:
        glob = location.table_glob(table)
        # View names and paths are ours; DuckDB cannot bind parameters in DDL.
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM "  # noqa: S608
            f"read_parquet('{glob}', hive_partitioning = true)"
        )


def open_catalog(root: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the catalog (many readers may hold one at once)."""
    return duckdb.connect(str(root / CATALOG_FILE), read_only=True)
