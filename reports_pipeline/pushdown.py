"""Filters pushed into the replica query: what a request's filters decide from the base
table's own columns becomes a `Prefilter` (constant SQL over bound parameters), so an
export slices and enriches only the rows that can match.

The Polars filters (`reports_pipeline.filters`) still decide every row after enrichment;
this only narrows what is read. Each translation below keeps exactly the rows its Polars
twin keeps (null handling included), so when every active filter is pushed, the count of
the prefiltered rows is the export's row count, known before a row is written.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from reports_pipeline.filters import (
    DateRange,
    MultiSetFilter,
    NumberRange,
    Predicate,
    ReportFilters,
    SetFilter,
    as_text,
)
from reports_pipeline.replica import EVERY_ROW, Prefilter


@dataclass(frozen=True)
class Related:
    """A filter decided by the base row's related rows: rows of `table` whose `link` names
    the base row (and, for a set filter, whose `column` holds one of the values)."""

    table: str
    link: str
    column: str | None = None

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.table,)


@dataclass(frozen=True)
class Searched:
    """A text search whose columns lie in the base and related tables: constant SQL over
    `tables` with one placeholder, `{needle}`, for the lower-cased text (ASCII only)."""

    tables: tuple[str, ...]
    sql: str


@dataclass(frozen=True)
class Valued:
    """Predicates over named text values of the base row's related rows (custom fields,
    trackers): constant SQL over `tables` with one placeholder, `{condition}`, over a value
    row `v` with the columns `name` and `value`. Each predicate that needs a value becomes
    one such semi-join; the others (`neq`, `not_in`, `exists: false`) hold without one."""

    tables: tuple[str, ...]
    sql: str


Narrowing = Related | Searched | Valued


@dataclass(frozen=True)
class Pushed:
    """The prefilter, and whether it decides the export's rows on its own (`exact`)."""

    keep: Prefilter
    exact: bool


class _Params:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any) -> str:
        name = f"{self.prefix}_{len(self.values)}"
        self.values[name] = value
        return f"${name}"


def pushed(
    filters: ReportFilters,
    tz: str,
    base: tuple[str, str],
    base_columns: Collection[str],
    related: Mapping[str, Narrowing] | None = None,
    *,
    prefix: str = "filter",
) -> Pushed:
    """The filters that read only `base_columns` of the `base` (table, key), as one
    prefilter; searches over those columns, and the filters `related` names, as conditions
    that keep at least every row the filter keeps (they narrow the rows read; the exact
    decision stays with Polars). Its parameters are named `<prefix>_<n>`."""
    param, parts, tables, exact = _Params(prefix), [], [], True
    for name, value, columns in filters.active():
        sql = None
        if len(columns) == 1 and columns[0] in base_columns:
            sql = _sql(value, f'"{columns[0]}"', tz, param)
        if sql is None:
            exact = False  # decided later, on the enriched frame
            rel = (related or {}).get(name)
            if rel is None and columns and set(columns) <= set(base_columns):
                sql = _searched_in_base(value, base[0], columns, param)
            elif rel is not None:
                sql = _narrowed(value, base, rel, param)
                tables += list(rel.tables) if sql else []
        if sql is not None:
            parts.append(sql)
    if not parts:
        return Pushed(EVERY_ROW, exact)
    keep = Prefilter(" AND ".join(f"({p})" for p in parts), param.values, tuple(tables))
    return Pushed(keep, exact)


def _narrowed(value: Any, base: tuple[str, str], rel: Narrowing, param: _Params) -> str | None:
    if isinstance(rel, Related):
        return _semi_join(value, base, rel, param)
    if isinstance(rel, Searched):
        return rel.sql.format(needle=param(value.lower())) if _pushable_text(value) else None
    if not isinstance(value, list):
        return None
    needs = [c for p in value if (c := _needs_a_value(p, param)) is not None]
    return " AND ".join(rel.sql.format(condition=c) for c in needs) or None


def _pushable_text(value: Any) -> bool:
    """Only ASCII text: DuckDB's `lower` then keeps every row Polars' `to_lowercase` would."""
    return isinstance(value, str) and value.isascii()


def _searched_in_base(
    value: Any, table: str, columns: Collection[str], param: _Params
) -> str | None:
    if not _pushable_text(value):
        return None
    needle = param(value.lower())
    return " OR ".join(
        f'coalesce(contains(lower(CAST({table}."{c}" AS VARCHAR)), {needle}), false)'
        for c in columns
    )


def _needs_a_value(predicate: Predicate, param: _Params) -> str | None:
    """The condition on a value row `v` that the predicate needs, or None where it can hold
    for a row without that value. Equality is decided exactly; the other comparisons only
    need the value to be there (Polars compares them, as numbers or text). A semi-join
    keeps a row with any such value; Polars decides on the one the enrichment reads."""
    op, value = predicate.op, predicate.value
    needs_value = op in ("contains", "gt", "gte", "lt", "lte") or (op == "exists" and value)
    if op not in ("eq", "in") and not needs_value:
        return None  # holds for a row without the value too
    name = f"v.name = {param(predicate.field)}"
    if op == "eq":
        return f"{name} AND v.value = {param(as_text(value))}"
    if op == "in":
        return f"{name} AND list_contains({param([as_text(v) for v in value])}, v.value)"  # type: ignore[union-attr]
    if op == "contains" and _pushable_text(needle := as_text(value)):
        return f"{name} AND contains(lower(v.value), {param(needle.lower())})"
    return f"{name} AND v.value IS NOT NULL"


def _semi_join(value: Any, base: tuple[str, str], rel: Related, param: _Params) -> str | None:
    """Only what can be narrowed without knowing how the enrichment reads the related
    rows: `true` flags and `values` sets need a related row (with one of the values, or
    with each of them for `require_every_value`)."""
    table, key = base
    exists = f"SELECT 1 FROM {rel.table} r WHERE r.{rel.link} = {table}.{key}"  # noqa: S608
    if value is True and rel.column is None:
        return f"EXISTS ({exists})"
    if isinstance(value, SetFilter) and rel.column is not None:
        if isinstance(value, MultiSetFilter) and value.require_every_value:
            wanted = list(dict.fromkeys(value.values or ()))
            return (
                f"(SELECT count(DISTINCT r.{rel.column}) FROM {rel.table} r "  # noqa: S608
                f"WHERE r.{rel.link} = {table}.{key} "
                f"AND list_contains({param(wanted)}, r.{rel.column})) = {param(len(wanted))}"
            )
        if value.values is not None:
            return (
                f"EXISTS ({exists} AND list_contains({param(list(value.values))}, r.{rel.column}))"
            )
        if value.exists:
            return f"EXISTS ({exists})"
    return None


def _sql(value: Any, column: str, tz: str, param: _Params) -> str | None:
    if isinstance(value, bool):
        return f"coalesce({column}, false) = {param(value)}"
    if isinstance(value, MultiSetFilter):
        return None  # list columns are never base columns
    if isinstance(value, SetFilter):
        return _set(value, column, param)
    if isinstance(value, DateRange):
        return _dates(value, column, tz, param)
    if isinstance(value, NumberRange):
        bounds = [f"{column} >= {param(value.min)}"] if value.min is not None else []
        bounds += [f"{column} <= {param(value.max)}"] if value.max is not None else []
        return " AND ".join(bounds) or "TRUE"
    return None  # search: decided by Polars' own lower-casing, on the enriched frame


def _set(value: SetFilter[Any], column: str, param: _Params) -> str:
    if value.values is not None:
        return f"coalesce(list_contains({param(list(value.values))}, {column}), false)"
    if value.exclude_values is not None:
        return (
            f"{column} IS NULL OR NOT list_contains({param(list(value.exclude_values))}, {column})"
        )
    return f"{column} IS NOT NULL" if value.exists else f"{column} IS NULL"


def _dates(value: DateRange, column: str, tz: str, param: _Params) -> str:
    bounds = [f"{column} >= {param(value.start(tz))}"] if value.from_ is not None else []
    if (upper := value.upper(tz)) is not None:
        limit, inclusive = upper
        bounds.append(f"{column} {'<=' if inclusive else '<'} {param(limit)}")
    return " AND ".join(bounds) or "TRUE"


def in_range(value: DateRange | None, column: str, tz: str, *, prefix: str) -> Prefilter:
    """A date range on a table's own timestamp `column`, as a prefilter (every row without
    one); its parameters are named `<prefix>_<n>`."""
    if value is None:
        return EVERY_ROW
    param = _Params(prefix)
    return Prefilter(_dates(value, column, tz, param), param.values)
