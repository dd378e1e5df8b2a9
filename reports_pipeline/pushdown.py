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
    ReportFilters,
    SetFilter,
)
from reports_pipeline.replica import EVERY_ROW, Prefilter


@dataclass(frozen=True)
class Related:
    """A filter decided by the base row's related rows: rows of `table` whose `link` names
    the base row (and, for a set filter, whose `column` holds one of the values)."""

    table: str
    link: str
    column: str | None = None


@dataclass(frozen=True)
class Searched:
    """A text search whose columns lie in the base and related tables: constant SQL over
    `tables` with one placeholder, `{needle}`, for the lower-cased text. Pushed only for
    ASCII text: DuckDB's `lower` then keeps every row Polars' `to_lowercase` would."""

    tables: tuple[str, ...]
    sql: str


@dataclass(frozen=True)
class Pushed:
    """The prefilter, and whether it decides the export's rows on its own (`exact`)."""

    keep: Prefilter
    exact: bool


class _Params:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any) -> str:
        name = f"filter_{len(self.values)}"
        self.values[name] = value
        return f"${name}"


def pushed(
    filters: ReportFilters,
    tz: str,
    base: tuple[str, str],
    base_columns: Collection[str],
    related: Mapping[str, Related | Searched] | None = None,
) -> Pushed:
    """The filters that read only `base_columns` of the `base` (table, key), as one
    prefilter; and those `related` names, as semi-joins that keep at least every row the
    filter keeps (they narrow the rows read; the exact decision stays with Polars)."""
    param, parts, tables, exact = _Params(), [], [], True
    for name, value, columns in filters.active():
        sql = None
        if len(columns) == 1 and columns[0] in base_columns:
            sql = _sql(value, f'"{columns[0]}"', tz, param)
        if sql is None:
            exact = False  # decided later, on the enriched frame
        rel = related.get(name) if sql is None and related else None
        if isinstance(rel, Related):
            sql = _semi_join(value, base, rel, param)
            tables += [rel.table] if sql else []
        elif isinstance(rel, Searched) and isinstance(value, str) and value.isascii():
            sql = rel.sql.format(needle=param(value.lower()))
            tables += rel.tables
        if sql is not None:
            parts.append(sql)
    if not parts:
        return Pushed(EVERY_ROW, exact)
    keep = Prefilter(" AND ".join(f"({p})" for p in parts), param.values, tuple(tables))
    return Pushed(keep, exact)


def _semi_join(value: Any, base: tuple[str, str], rel: Related, param: _Params) -> str | None:
    """Only what can be narrowed without knowing how the enrichment reads the related
    rows: `true` flags and `values` sets need a related row (with one of the values)."""
    table, key = base
    exists = f"SELECT 1 FROM {rel.table} r WHERE r.{rel.link} = {table}.{key}"  # noqa: S608
    if value is True and rel.column is None:
        return f"EXISTS ({exists})"
    if isinstance(value, SetFilter) and rel.column is not None:
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
