"""Reads one organisation's partition of the replica, slice by slice.

DuckDB does the Parquet I/O (projection and row-group pruning); every query here is a
fixed text owned by the report modules, with values bound as parameters. Results come
back as Polars frames, where the filters apply.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import polars.selectors as cs

from warehouse.location import ReplicaLocation
from warehouse.tables import TABLES

ORG_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_ORG_ID = re.compile(ORG_ID_PATTERN)


@dataclass(frozen=True)
class Prefilter:
    """A condition on a table's own columns that rows must meet to be sliced at all: our
    constant SQL text over named parameters (never user text), and the values to bind.
    It may keep more rows than the export's filters do, never fewer."""

    sql: str = "TRUE"
    params: dict[str, Any] = field(default_factory=dict)
    tables: tuple[str, ...] = ()  # other replica tables the condition reads (semi-joins)

    def __and__(self, other: Prefilter) -> Prefilter:
        if other.sql == "TRUE":
            return self
        if self.sql == "TRUE":
            return other
        clash = self.params.keys() & other.params.keys()
        if clash:
            raise ValueError(f"prefilters share parameter names {sorted(clash)}")
        return Prefilter(
            f"({self.sql}) AND ({other.sql})",
            {**self.params, **other.params},
            tuple(dict.fromkeys(self.tables + other.tables)),
        )


EVERY_ROW = Prefilter()
# The database of a reader's own staged tables (`ReplicaReader.append`).
SCRATCH = "scratch"


@dataclass(frozen=True)
class Slice:
    """Rows whose (timestamp, id) lies in [first, last], in export order."""

    first: tuple[datetime, int]
    last: tuple[datetime, int]

    def where(self, ts: str, key: str) -> pl.Expr:
        after_first = (pl.col(ts) > self.first[0]) | (
            (pl.col(ts) == self.first[0]) & (pl.col(key) >= self.first[1])
        )
        before_last = (pl.col(ts) < self.last[0]) | (
            (pl.col(ts) == self.last[0]) & (pl.col(key) <= self.last[1])
        )
        return after_first & before_last


# A slice no row lies in (its first bound is after its last): its batch has the export's
# columns and types, and no rows.
NO_ROWS = Slice(
    first=(datetime(9999, 12, 31, tzinfo=UTC), 0), last=(datetime(1, 1, 1, tzinfo=UTC), 0)
)


class _ArrowStream:
    """A Polars frame as DuckDB scans it: through the Arrow C stream interface, as results
    come back (`pl.DataFrame(relation)`). `register(frame)` and `.pl()` would go through
    pyarrow, whose import alone adds ~50 MB to every run process."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self.frame.__arrow_c_stream__(requested_schema)


class ReplicaReader:
    """One organisation's tables. Open one per export run; use it from one thread at a time
    (the export's prefetch thread runs every query of the stream)."""

    def __init__(
        self,
        root: Path | str | ReplicaLocation,
        organisation_id: str,
        *,
        memory_limit: str = "128MB",
    ) -> None:
        if not _ORG_ID.match(organisation_id):
            raise ValueError("organisation id has characters the replica does not use")
        self.location = root if isinstance(root, ReplicaLocation) else ReplicaLocation.of(root)
        self.organisation_id = organisation_id
        self.con = duckdb.connect(
            config={
                "threads": 2,
                "memory_limit": memory_limit,
                "preserve_insertion_order": False,
                # DuckDB would spill into the working directory; keep it with temp files.
                "temp_directory": str(Path(tempfile.gettempdir()) / "crm-reports-duckdb"),
            }
        )
        # Each slice queries every related table again: read each file's footer once.
        self.con.execute("SET parquet_metadata_cache = true")  # needs parquet loaded first
        self.location.attach(self.con)
        self._declared: set[str] = set()
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    def close(self) -> None:
        self.con.close()
        if self._scratch is not None:
            self._scratch.cleanup()

    def __enter__(self) -> ReplicaReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def tables_read(self) -> set[str]:
        """The replica tables this reader has been asked to read so far."""
        return self._declared & set(TABLES)

    def source(self, table: str) -> str:
        """The Parquet glob of this organisation's partition, or "" when it has none."""
        if table not in TABLES:
            raise KeyError(table)
        glob = self.location.org_table_glob(table, self.organisation_id)
        return glob if self.location.files(glob) else ""

    def query(
        self,
        tables: str | Sequence[str],
        sql: str,
        params: Sequence[Any] | dict[str, Any] = (),
        **frames: pl.DataFrame,
    ) -> pl.DataFrame:
        """Run `sql` over this organisation's `tables` (named as themselves) and `frames`."""
        for table in [tables] if isinstance(tables, str) else tables:
            self._declare(table)
        for name, frame in frames.items():
            self.con.register(name, _ArrowStream(frame))
        try:
            bound = params if isinstance(params, dict) else list(params)
            frame = pl.DataFrame(self.con.sql(sql, params=bound))
        finally:
            for name in frames:
                self.con.unregister(name)
        # DuckDB names the zone Etc/UTC; Polars compares zones by name, so use one name.
        return frame.with_columns(cs.datetime(time_zone="*").dt.convert_time_zone("UTC"))

    def _declare(self, table: str) -> None:
        """A view named as the table over this organisation's partition, once per reader."""
        if table in self._declared:
            return
        glob = self.source(table)
        # Partition values live in the path, not the files: no org_id column appears.
        relation = self.con.read_parquet(
            glob or self.location.table_glob(table), hive_partitioning=False
        )
        if not glob:  # no rows for this organisation: the table's shape, empty
            relation = relation.limit(0)
        relation.create_view(table, replace=True)
        self._declared.add(table)

    def columns(self, table: str) -> set[str]:
        """The columns of a table (as this organisation's partition reads)."""
        return set(self.query(table, f"SELECT * FROM {table} LIMIT 0").columns)  # noqa: S608

    def count(self, table: str, keep: Prefilter = EVERY_ROW) -> int:
        """The table's rows that `keep` keeps."""
        sql = f"SELECT count(*) AS n FROM {table} WHERE {keep.sql}"  # noqa: S608 - our text
        frame = self.query([table, *keep.tables], sql, keep.params)
        return int(frame["n"][0])

    def materialize(
        self, name: str, tables: Sequence[str], sql: str, params: dict[str, Any] | None = None
    ) -> None:
        """Keep `sql`'s result as the temporary table `name` for this reader's later queries
        (DuckDB spills it to disk past its memory limit, so it never grows the process)."""
        for table in tables:
            self._declare(table)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}", params or {})
        self._declared.add(name)

    def append(self, name: str, frame: pl.DataFrame) -> None:
        """Add `frame`'s rows to the table `name` of the `scratch` database, made in its
        shape by the first call. That database is a file of this reader's, removed on
        close: its tables live on disk, so they never take the memory queries need (an
        in-memory temporary table of 36M events crowded out 5M chats' lookups)."""
        if not name.startswith(f"{SCRATCH}."):
            raise ValueError(f"appended tables live in {SCRATCH}")
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="crm-reports-scratch-")
            database = Path(self._scratch.name) / "scratch.duckdb"
            self.con.execute(f"ATTACH '{database}' AS {SCRATCH}")  # our own path
        self.con.register("appended", _ArrowStream(frame))
        try:
            if name in self._declared:
                self.con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM appended")  # noqa: S608
            else:
                self.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM appended")  # noqa: S608
                self._declared.add(name)
        finally:
            self.con.unregister("appended")

    def kept(self, table: str, ts: str, key: str, keep: Prefilter) -> str:
        """Evaluate `keep` once: the (ts, key) of the table's rows it keeps, as a temporary
        table whose name is returned. Slicing it instead of the table spares each slice the
        semi-joins of `keep`, each of which reads its whole related table."""
        name = f"kept_{table}"
        self.materialize(
            name,
            [table, *keep.tables],
            f"SELECT {ts} AS ts, {key} AS key FROM {table} WHERE {keep.sql}",  # noqa: S608
            keep.params,
        )
        return name

    def slices(
        self, table: str, ts: str, key: str, size: int, keep: Prefilter = EVERY_ROW
    ) -> Iterator[Slice]:
        """Cut the table's rows that `keep` keeps into slices of `size` in (ts, key) order.

        DuckDB numbers the rows and returns only each slice's first and last (ts, key), so
        memory does not grow with the organisation (it spills the sort past its limit).
        """
        bounds = self.query(
            [table, *keep.tables],
            f"""WITH numbered AS (
                    SELECT {ts} AS ts, {key} AS key,
                           (row_number() OVER (ORDER BY {ts}, {key}) - 1) // $size AS part
                    FROM {table} WHERE {keep.sql})
                SELECT first(ts ORDER BY ts, key) AS first_ts,
                       first(key ORDER BY ts, key) AS first_key,
                       last(ts ORDER BY ts, key) AS last_ts,
                       last(key ORDER BY ts, key) AS last_key
                FROM numbered GROUP BY part ORDER BY part""",  # noqa: S608 - our names
            {"size": size, **keep.params},
        )
        for first_ts, first_key, last_ts, last_key in bounds.iter_rows():
            yield Slice(first=(first_ts, first_key), last=(last_ts, last_key))

    def slice_rows(
        self,
        table: str,
        ts: str,
        key: str,
        part: Slice,
        keep: Prefilter = EVERY_ROW,
        kept: str | None = None,
    ) -> pl.DataFrame:
        """The table's rows inside `part` that `keep` keeps (or that the table `kept` names,
        from `kept()`), sorted in export order."""
        if kept is not None:
            within = "ts BETWEEN $slice_first AND $slice_last"
            keep = Prefilter(f"{key} IN (SELECT key FROM {kept} WHERE {within})")  # noqa: S608
        rows = self.query(
            [table, *keep.tables],
            f"SELECT * FROM {table} "  # noqa: S608 - our names
            f"WHERE {ts} BETWEEN $slice_first AND $slice_last AND ({keep.sql})",
            {"slice_first": part.first[0], "slice_last": part.last[0], **keep.params},
        )
        return rows.filter(part.where(ts, key)).sort(ts, key)
