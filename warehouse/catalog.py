"""The DuckDB catalog: one view per replica table over its Parquet files.

Data engineers open `replica.duckdb` for ad-hoc SQL; exports read the Parquet files
directly, one organisation's partition at a time.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from warehouse.tables import TABLES, table_glob

CATALOG_FILE = "replica.duckdb"


def build_catalog(root: Path) -> Path:
    """(Re)create `replica.duckdb` under `root` with a view per table."""
    path = root / CATALOG_FILE
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        _create_views(con, root)
    return path


def connect_views(root: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the catalog's views, for a replica that has Parquet
    files but no catalog file (a production replica written by the CRM's replication)."""
    con = duckdb.connect()
    _create_views(con, root)
    return con


def _create_views(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    for table in TABLES:
        glob = table_glob(root.resolve(), table)
        # View names and paths are ours; DuckDB cannot bind parameters in DDL.
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM "  # noqa: S608
            f"read_parquet('{glob}', hive_partitioning = true)"
        )


def open_catalog(root: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the catalog (many readers may hold one at once)."""
    return duckdb.connect(str(root / CATALOG_FILE), read_only=True)
