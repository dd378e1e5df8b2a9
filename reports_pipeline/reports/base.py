"""What every report type declares: its filters, its columns and its query."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from reports_pipeline.filters import ReportFilters, RequestOptions
from reports_pipeline.pushdown import Narrowing, pushed
from reports_pipeline.replica import (
    EVERY_ROW,
    NO_ROWS,
    SCRATCH,
    Prefilter,
    ReplicaReader,
    Slice,
)


@dataclass(frozen=True)
class Matching:
    """The rows an export reads, counted in the replica before any of them is read: the
    export's rows exactly when `exact` (every active filter was decided there), at most
    that many otherwise (the rest are decided after enrichment)."""

    count: Callable[[], int]
    exact: bool

    def expected(self) -> int | None:
        """The export's row count, when the replica can tell it up front."""
        return self.count() if self.exact else None


@dataclass
class Export:
    """The header and a stream of frames whose columns are exactly `columns`, in order;
    `matching`, where the type can count its rows before reading them, how many;
    `related`, the sheets that follow it (read only once its own batches are done)."""

    columns: list[str]
    batches: Iterator[pl.DataFrame]
    matching: Matching | None = None
    related: list[RelatedExport] = field(default_factory=list)


@dataclass
class RelatedExport:
    name: str  # the sheet's file in a ZIP: `contacts`
    title: str  # its sheet in a workbook: `Contacts`
    export: Export


class ExportedRows:
    """The keys of the rows an export wrote (`keys`: header -> name, plus `row_rank`, their
    position), kept as they stream in a table of the reader's scratch database: on disk,
    so a million chats' keys take no memory. Related sheets read them back."""

    TABLE = f"{SCRATCH}.exported_rows"

    def __init__(self, reader: ReplicaReader, keys: Mapping[str, str]) -> None:
        self.reader, self.keys, self.count = reader, keys, 0

    def kept(self, batches: Iterable[pl.DataFrame]) -> Iterator[pl.DataFrame]:
        """`batches`, passed on as they are, their keys kept on the way (an empty batch's
        too: it gives the table its types)."""
        for batch in batches:
            keys = batch.select(pl.col(header).alias(name) for header, name in self.keys.items())
            self.reader.append(self.TABLE, keys.with_row_index("row_rank", offset=self.count))
            self.count += batch.height
            yield batch

    def ranks(self, size: int) -> Iterator[tuple[int, int]]:
        """Windows of `size` rows: the first and last `row_rank` of each; one empty window
        when the export wrote no row (a sheet still gets its types)."""
        for first in range(0, max(self.count, 1), size):
            yield first, first + size - 1

    def windows(self, size: int) -> Iterator[pl.DataFrame]:
        """The kept keys in `row_rank` order, a window at a time."""
        for first, last in self.ranks(size):
            yield self.reader.query(
                [],
                f"SELECT * FROM {self.TABLE} WHERE row_rank BETWEEN ? AND ? "  # noqa: S608
                "ORDER BY row_rank",
                [first, last],
            )


RelatedBuilder = Callable[[ReplicaReader, ExportedRows, str, int], Export]


@dataclass(frozen=True)
class RelatedSheet:
    """Rows related to an export's rows (a chat export's contacts, messages, ...): built
    from the kept keys of the rows it wrote, after them."""

    name: str
    title: str
    build: RelatedBuilder  # (reader, exported rows, tz, slice_rows)


# Filters decided from the base table's own columns narrow the replica query itself
# (reports_pipeline.pushdown). Off, every row is sliced and the filters decide after
# enrichment alone: the differential test compares the two.
PUSHDOWN = True


class UnknownColumns(ValueError):
    """Chosen columns that the type's header does not have (for this organisation)."""

    def __init__(self, type_label: str, unknown: list[str]) -> None:
        self.unknown = unknown
        names = ", ".join(f"'{name}'" for name in unknown[:5])
        super().__init__(f"not a column of the {type_label} export: {names}")


def missing_columns(header: list[str], columns: list[str]) -> list[tuple[int, str]]:
    """The chosen `columns` (position, name) that `header` does not have."""
    known = set(header)
    return [(i, name) for i, name in enumerate(columns) if name not in known]


def chosen_columns(export: Export, columns: list[str], type_label: str) -> Export:
    """The export cut to `columns`, in their order."""
    if unknown := missing_columns(export.columns, columns):
        raise UnknownColumns(type_label, [name for _, name in unknown])
    batches = (batch.select(columns) for batch in export.batches)
    return Export(list(columns), batches, export.matching, export.related)


ExportBuilder = Callable[..., Export]  # (reader, filters, tz, slice_rows[, options])
MatchingCounter = Callable[[ReplicaReader, Any, str], Matching | None]


@dataclass(frozen=True)
class BaseTable:
    """The table a type exports one row per row of, in (`ts`, `key`) order, and the filters
    on its related rows the replica query narrows it by (`reports_pipeline.pushdown`)."""

    table: str
    ts: str
    key: str
    related: Mapping[str, Narrowing] = field(default_factory=dict)

    def narrowed(
        self,
        reader: ReplicaReader,
        filters: ReportFilters,
        tz: str,
        keep: Prefilter = EVERY_ROW,
    ) -> tuple[Prefilter, Matching]:
        """What the replica query keeps of the table for `filters` (and `keep`), and how
        many rows that is: the export's rows when every active filter is decided there."""
        exact = False
        if PUSHDOWN:
            push = pushed(
                filters, tz, (self.table, self.key), reader.columns(self.table), self.related
            )
            exact = push.exact and keep is EVERY_ROW
            keep = keep & push.keep
        return keep, Matching(lambda: reader.count(self.table, keep), exact)


@dataclass(frozen=True)
class ReportType:
    name: str
    label: str
    description: str
    filters: type[ReportFilters]
    build: ExportBuilder
    reads: frozenset[str]  # the replica tables an export of this type may read
    example: dict[str, Any] = field(default_factory=dict)
    # The date filter a "last month" means (the page's default, a schedule's span).
    date_filter: str = "created"
    # A sliced type's base table, which also counts its matching rows up front.
    base: BaseTable | None = None
    # Otherwise, where the type can, the count of its matching rows without building it.
    counts: MatchingCounter | None = None
    # Request fields of this type's own beside the filters (a summary's periods); its
    # `build` then takes them as a fifth argument, and the request checks them against
    # the type's date filter (`RequestOptions.check`).
    options: type[RequestOptions] | None = None
    # A summary's measures: its columns after the period and what the row is of (its group).
    measures: tuple[str, ...] = ()
    # The sheets a request may add (`related`), the keys of each written row they read,
    # and the name of the rows' own file among them (`chats`).
    related: Mapping[str, RelatedSheet] = field(default_factory=dict)
    related_keys: Mapping[str, str] = field(default_factory=dict)
    sheet: str = ""
    # Whether `build` takes `only` (headers) and then reads only what those columns need.
    narrows_columns: bool = False

    def with_related(
        self,
        sheet: str,
        sheets: Iterable[RelatedSheet],
        keys: Mapping[str, str],
        reads: frozenset[str],
    ) -> ReportType:
        """This type with the sheets a request may add beside its own (`sheet`), the keys
        they read of each written row, and the replica tables they read."""
        related = {s.name: s for s in sheets}
        return replace(
            self, sheet=sheet, related=related, related_keys=keys, reads=self.reads | reads
        )

    def parse_filters(self, payload: dict[str, Any] | None) -> ReportFilters:
        return self.filters.model_validate(payload or {})

    def chosen_options(self, request: Any) -> RequestOptions | None:
        """This type's options as `request` (a request or selection of it) gives them."""
        if self.options is None:
            return None
        return self.options.model_validate(
            {name: getattr(request, name) for name in self.options.model_fields}
        )

    def export(self, reader: ReplicaReader, request: Any, slice_rows: int) -> Export:
        """The export `request` asks for, cut to its `columns` where it chooses some
        (raises `UnknownColumns` for a name the header does not have), with its related
        sheets."""
        columns = getattr(request, "columns", None)
        related = [self.related[name] for name in getattr(request, "related", None) or []]
        keys = list(self.related_keys) if related else []
        rows = self._rows(reader, request, slice_rows, columns, keys)
        if related:
            # The keys are kept from the whole rows: the chosen columns may leave them out.
            exported = ExportedRows(reader, self.related_keys)
            rows.batches = exported.kept(rows.batches)
            tz = request.timezone
            rows.related = [
                RelatedExport(s.name, s.title, s.build(reader, exported, tz, slice_rows))
                for s in related
            ]
        return chosen_columns(rows, columns, self.label) if columns else rows

    def _rows(
        self,
        reader: ReplicaReader,
        request: Any,
        slice_rows: int,
        columns: list[str] | None,
        keys: list[str],
    ) -> Export:
        """The export of every column, or, where the type can skip the work of the others
        (`narrows_columns`), of the chosen columns and `keys` only."""
        if not (columns and self.narrows_columns):
            return self.whole_export(reader, request, slice_rows)
        if unknown := self.unknown_columns(reader, request):
            raise UnknownColumns(self.label, [name for _, name in unknown])
        only = list(dict.fromkeys([*columns, *keys]))
        return self.build(reader, request.filters, request.timezone, slice_rows, only=only)

    def header(self, reader: ReplicaReader, request: Any) -> list[str]:
        """Every column an export of `request` has for this organisation, in order."""
        return self.whole_export(reader, request, 1).columns

    def unknown_columns(self, reader: ReplicaReader, request: Any) -> list[tuple[int, str]]:
        """The chosen columns (position, name) this organisation's header does not have."""
        return missing_columns(self.header(reader, request), request.columns or [])

    def whole_export(self, reader: ReplicaReader, request: Any, slice_rows: int) -> Export:
        """The export of every column; its header is known before a row is read."""
        given = (reader, request.filters, request.timezone, slice_rows)
        options = self.chosen_options(request)
        return self.build(*given) if options is None else self.build(*given, options)

    def matching(self, reader: ReplicaReader, filters: Any, tz: str) -> Matching | None:
        """The rows an export of `filters` would read, before it runs (None: this type
        cannot count them up front)."""
        if self.base is not None:
            return self.base.narrowed(reader, filters, tz)[1]
        return self.counts(reader, filters, tz) if self.counts is not None else None


def lookup(
    reader: ReplicaReader, table: str, key: str, value: str, *, as_key: str, as_value: str
) -> pl.DataFrame:
    """A small id -> name table of one organisation (channels, members, labels, ...)."""
    frame = reader.query(table, f"SELECT {key}, {value} FROM {table}")  # noqa: S608 - our names
    return frame.rename({key: as_key, value: as_value})


def rows_for(
    reader: ReplicaReader, table: str, key: str, ids: pl.Series, columns: str = "*"
) -> pl.DataFrame:
    """Rows of `table` whose `key` is one of `ids` (a slice's own related rows)."""
    wanted = pl.DataFrame({"id": ids.unique().drop_nulls()})
    if wanted.height == 0:
        return reader.query(table, f"SELECT {columns} FROM {table} LIMIT 0")  # noqa: S608
    lo, hi = wanted["id"].min(), wanted["id"].max()
    # The range lets DuckDB skip row groups; the semi-join keeps exactly the slice's rows.
    return reader.query(
        table,
        f"SELECT {columns} FROM {table} WHERE {key} BETWEEN ? AND ? "  # noqa: S608 - our names
        f"AND {key} IN (SELECT id FROM wanted)",
        [lo, hi],
        wanted=wanted,
    )


def select_columns(frame: pl.DataFrame, columns: dict[str, pl.Expr]) -> pl.DataFrame:
    return frame.select(expr.alias(name) for name, expr in columns.items())


def sliced_export(
    reader: ReplicaReader,
    base: BaseTable,
    slice_rows: int,
    enrich: Callable[[pl.DataFrame], pl.DataFrame],
    where: pl.Expr,
    columns: dict[str, pl.Expr],
    filters: ReportFilters,
    tz: str,
    keep: Prefilter = EVERY_ROW,
    prepare: Callable[[str, str, Prefilter], None] | None = None,
) -> Export:
    """The export of a base table read slice by slice: each slice is enriched with its own
    related rows, filtered, and cut to the columns. Only rows `keep` keeps, and that the
    filters the replica query decides can keep, are sliced and enriched at all. `prepare`,
    if given, is told where those rows' keys are before the first slice: a table, its key
    column and the condition on it."""
    table, ts, key = base.table, base.ts, base.key
    keep, matching = base.narrowed(reader, filters, tz, keep)

    def batch(part: Slice, kept: str | None = None) -> pl.DataFrame:
        frame = enrich(reader.slice_rows(table, ts, key, part, keep, kept))
        return select_columns(frame.filter(where).sort(ts, key), columns)

    def batches() -> Iterator[pl.DataFrame]:
        # Semi-joins read whole related tables: evaluated once, not once per slice. Without
        # them no such table: at 5M chats its 80 MB crowded DuckDB's 128 MB (a tenth of the run).
        kept = reader.kept(table, ts, key, keep) if keep.tables else None
        if prepare is not None:
            prepare(*((kept, "key", EVERY_ROW) if kept else (table, key, keep)))
        parts = (
            reader.slices(kept, "ts", "key", slice_rows)
            if kept
            else reader.slices(table, ts, key, slice_rows, keep)
        )
        # One call per slice, so its enriched frame is freed before the batch is yielded.
        empty = True
        for part in parts:
            empty = False
            yield batch(part, kept)
        if empty:  # no row at all: still one (empty) batch, for the columns' types
            yield batch(NO_ROWS, kept)

    return Export(list(columns), batches(), matching)
