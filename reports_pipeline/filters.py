"""The filter vocabulary shared by every report type (docs/report-types.md, "How filters
are written").

Each filter is a typed model that compiles to one Polars expression. Nothing here does
I/O or touches SQL: user text only ever becomes a literal value in an expression.
A report type declares its filters as a `ReportFilters` subclass whose fields carry a
`On(...)` marker naming the column(s) the filter reads.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import reduce
from typing import Annotated, Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo

import polars as pl
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonDict

MAX_SET_VALUES = 1_000
MAX_PREDICATES = 50
MAX_TEXT = 200

T = TypeVar("T")


class StrictModel(BaseModel):
    """Exact shapes: an unknown key is a 422, never silently ignored, and values are
    never coerced (`"true"` is not a flag, `"5"` is not an id)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL cannot store NUL in text; SQLite would, and then show it everywhere.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


class SetFilter(StrictModel, Generic[T]):
    """`values` = any of, `exclude_values` = none of, `exists: false` = empty. One of the three."""

    values: list[T] | None = Field(None, min_length=1, max_length=MAX_SET_VALUES)
    exclude_values: list[T] | None = Field(None, min_length=1, max_length=MAX_SET_VALUES)
    exists: bool | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SetFilter[T]:
        given = [k for k in ("values", "exclude_values", "exists") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of values, exclude_values or exists")
        return self

    def to_expr(self, column: pl.Expr) -> pl.Expr:
        if self.values is not None:
            return column.is_in(self.values).fill_null(False)
        if self.exclude_values is not None:
            return column.is_null() | ~column.is_in(self.exclude_values)
        return column.is_not_null() if self.exists else column.is_null()


class TextSetFilter(SetFilter[Text]):
    """A set filter over text values (workflow states, call statuses, hang-up causes)."""


class MultiSetFilter(SetFilter[T], Generic[T]):
    """The set filter over a list column; `require_every_value` asks for all listed values."""

    require_every_value: bool = False

    @model_validator(mode="after")
    def _every_needs_values(self) -> MultiSetFilter[T]:
        if self.require_every_value and self.values is None:
            raise ValueError("require_every_value goes with values")
        return self

    def to_expr(self, column: pl.Expr) -> pl.Expr:
        if self.values is not None and self.require_every_value:
            return reduce(lambda a, b: a & b, (column.list.contains(v) for v in self.values))
        if self.values is not None:
            return column.list.eval(pl.element().is_in(self.values)).list.any().fill_null(False)
        if self.exclude_values is not None:
            hit = column.list.eval(pl.element().is_in(self.exclude_values)).list.any()
            return ~hit.fill_null(False)
        has_any = column.list.len().fill_null(0) > 0
        return has_any if self.exists else ~has_any


DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
_INSTANT: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)
# The instants a bound may stand for; beyond them (year 1 in Asia/Kolkata, year 9999 at
# -14:00) a bound is clamped: no row lies there, so it matches what the user meant.
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def _parse_bound(value: object) -> date | datetime:
    if isinstance(value, date):  # already parsed (a model built in code)
        return value
    if not isinstance(value, str):
        raise ValueError("give a date (YYYY-MM-DD) or an RFC 3339 timestamp with its offset")
    if DATE_ONLY.fullmatch(value):
        return date.fromisoformat(value)
    return _INSTANT.validate_python(value, strict=False)


Bound = Annotated[
    date | datetime,
    PlainValidator(_parse_bound),
    PlainSerializer(lambda bound: bound.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}
    ),
]


class DateRange(StrictModel):
    """Inclusive bounds; a bare date is the whole day in the request's timezone. Bounds of
    one kind are ordered here; a date against a timestamp only in a timezone, so the
    request checks those (`ReportFilters.check_dates`)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: Bound | None = Field(None, alias="from")
    to: Bound | None = None

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        both = self.from_ is not None and self.to is not None
        if both and type(self.from_) is type(self.to) and self.from_ > self.to:  # type: ignore[operator]
            raise ValueError("'from' is after 'to'")
        return self

    def check_order(self, tz: str) -> None:
        """Raises if `from` starts after `to` ends in `tz`."""
        if self.from_ is None or self.to is None:
            return
        end = self.end(tz)
        if end is not None and self.start(tz) > end:
            raise ValueError("'from' is after 'to'")

    def start(self, tz: str) -> datetime:
        """The first instant in range (UTC)."""
        assert self.from_ is not None
        return _utc(self.from_, tz)

    def end(self, tz: str) -> datetime | None:
        """The last instant in range (UTC); None when the range runs to the end of time."""
        assert self.to is not None
        if isinstance(self.to, datetime):
            return _utc(self.to, tz)
        if self.to == date.max:
            return None
        return _utc(self.to + timedelta(days=1), tz) - timedelta(microseconds=1)

    def upper(self, tz: str) -> tuple[datetime, bool] | None:
        """The upper limit as a UTC instant and whether it is inclusive (a timestamp) or
        not (the midnight after a date); None when the range runs to the end of time."""
        if isinstance(self.to, datetime):
            return _utc(self.to, tz), True
        if self.to is not None and self.to < date.max:
            return _utc(self.to + timedelta(days=1), tz), False
        return None

    def to_expr(self, column: pl.Expr, tz: str) -> pl.Expr:
        parts: list[pl.Expr] = []
        if self.from_ is not None:
            parts.append(column >= self.start(tz))
        if (upper := self.upper(tz)) is not None:
            limit, inclusive = upper
            parts.append(column <= limit if inclusive else column < limit)
        return _all(parts).fill_null(False)


def _utc(bound: date | datetime, tz: str) -> datetime:
    """A bound as a UTC instant: a date is its midnight in `tz`; clamped to the calendar."""
    if not isinstance(bound, datetime):
        bound = datetime.combine(bound, time.min, ZoneInfo(tz))
    try:
        return bound.astimezone(UTC)
    except OverflowError:
        return EARLIEST if bound.year == 1 else LATEST


class NumberRange(StrictModel):
    min: float | None = Field(None, allow_inf_nan=False)
    max: float | None = Field(None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> NumberRange:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("'min' is greater than 'max'")
        return self

    def to_expr(self, column: pl.Expr) -> pl.Expr:
        parts = []
        if self.min is not None:
            parts.append(column >= self.min)
        if self.max is not None:
            parts.append(column <= self.max)
        return _all(parts).fill_null(False)


Scalar = bool | int | float | str  # smart union: true stays a bool, "5" stays text
PredicateOp = Literal["eq", "neq", "contains", "in", "not_in", "exists", "gt", "gte", "lt", "lte"]


class Predicate(StrictModel):
    """One condition on a named attribute (a custom field key or a tracker name)."""

    field: Text
    op: PredicateOp
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> Predicate:
        if self.op in ("in", "not_in"):
            ok = isinstance(self.value, list) and 0 < len(self.value) <= MAX_SET_VALUES
            need = "a non-empty list"
        elif self.op == "exists":
            ok, need = isinstance(self.value, bool), "true or false"
        elif self.op in ("gt", "gte", "lt", "lte"):
            ok = isinstance(self.value, int | float | str) and not isinstance(self.value, bool)
            need = "a number or a string"
        else:
            ok, need = isinstance(self.value, str | int | float), "a single value"
        if not ok:
            raise ValueError(f"op '{self.op}' needs {need} as value")
        if isinstance(self.value, str) and len(self.value) > MAX_TEXT:
            raise ValueError(f"value is longer than {MAX_TEXT} characters")
        return self

    def to_expr(self, column: pl.Expr) -> pl.Expr:
        """`column` holds the attribute as text (null where the row has no value)."""
        value = self.value
        if self.op == "exists":
            return column.is_not_null() if value else column.is_null()
        if self.op in ("in", "not_in"):
            hit = column.is_in([as_text(v) for v in value]).fill_null(False)  # type: ignore[union-attr]
            return hit if self.op == "in" else ~hit
        if self.op == "contains":
            needle = as_text(value).lower()
            return column.str.to_lowercase().str.contains(needle, literal=True).fill_null(False)
        if self.op in ("eq", "neq"):
            hit = (column == as_text(value)).fill_null(False)
            return hit if self.op == "eq" else ~hit
        # Numbers compare as numbers; text (ISO dates included) compares as text.
        lhs = column.cast(pl.Float64, strict=False) if isinstance(value, int | float) else column
        compare = {"gt": lhs.__gt__, "gte": lhs.__ge__, "lt": lhs.__lt__, "lte": lhs.__le__}
        return compare[self.op](value).fill_null(False)


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


Predicates = Annotated[list[Predicate], Field(max_length=MAX_PREDICATES)]


def search_expr(text: str, columns: Sequence[str]) -> pl.Expr:
    """Case-insensitive plain-text substring over any of `columns`."""
    needle = text.lower()
    hits = [
        pl.col(c).cast(pl.String).str.to_lowercase().str.contains(needle, literal=True)
        for c in columns
    ]
    return reduce(lambda a, b: a | b, hits).fill_null(False)


def _all(parts: list[pl.Expr]) -> pl.Expr:
    return reduce(lambda a, b: a & b, parts) if parts else pl.lit(True)


def options(source: str) -> Any:
    """Names the list of the organisation's values a filter picks from (`GET .../options`);
    the admin page reads it from the schema as `x-options`."""
    return Field(json_schema_extra={"x-options": source})


FilterGroup = Literal["dates", "people", "status", "flags", "numbers", "text", "custom"]


def shown(
    title: str | None = None,
    *,
    group: FilterGroup | None = None,
    unit: str | None = None,
    names: dict[str, str] | None = None,
) -> Any:
    """How a filter is named and placed where people see it (the OpenAPI document, the
    page; `reports_pipeline.catalogue`): a title where its name does not say it, a group
    other than its kind's, the unit of its numbers, the names of its fixed choices."""
    extra: JsonDict = {key: value for key, value in (("x-group", group), ("x-unit", unit)) if value}
    if names:
        extra["x-names"] = dict(names)
    if title is None:  # pydantic's own title (from the name) stays
        return Field(json_schema_extra=extra)
    return Field(title=title, json_schema_extra=extra)


class On:
    """Marks a filter field with the column(s) it reads in the report's frame."""

    def __init__(self, *columns: str) -> None:
        self.columns = columns


class RequestOptions(StrictModel):
    """Request fields of a report type's own beside its filters (a summary's periods)."""

    def check(self, chosen: DateRange | None, tz: str) -> None:
        """Raises unless these options fit the type's date filter `chosen` (read in `tz`)."""


class ReportFilters(StrictModel):
    """Base of each report type's filters: compiles every set field to one expression.

    Predicate lists are compiled by the report type itself (their columns are discovered
    per organisation), so `compile` skips fields without an `On` marker.
    """

    def compile(self, tz: str, fields: Collection[str] | None = None) -> list[pl.Expr]:
        return [
            _compile_field(value, columns, tz)
            for name, value, columns in self.active()
            if columns and (fields is None or name in fields)
        ]

    def active(self) -> Iterator[tuple[str, Any, tuple[str, ...]]]:
        """Each filter that is set: its name, value and the columns its `On` names (none
        for fields the report type compiles itself, such as predicate lists)."""
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if value is None:
                continue
            marker = next((m for m in info.metadata if isinstance(m, On)), None)
            yield name, value, marker.columns if marker else ()

    def where(self, tz: str, fields: Collection[str] | None = None) -> pl.Expr:
        """All filters (or those named in `fields`) as one expression."""
        return _all(self.compile(tz, fields))

    def date_ranges(self) -> Iterator[tuple[str, DateRange]]:
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, DateRange):
                yield name, value

    def check_dates(self, tz: str) -> None:
        """Every date range is ordered in the request's timezone."""
        for name, value in self.date_ranges():
            try:
                value.check_order(tz)
            except ValueError as error:
                raise ValueError(f"{name}: {error}") from None


def _compile_field(value: Any, columns: tuple[str, ...], tz: str) -> pl.Expr:
    column = pl.col(columns[0])
    if isinstance(value, bool):
        return column.fill_null(False) == value
    if isinstance(value, str):
        return search_expr(value, columns)
    if isinstance(value, DateRange):
        return value.to_expr(column, tz)
    if isinstance(value, NumberRange | SetFilter):
        return value.to_expr(column)
    raise TypeError(f"no compiler for {type(value).__name__}")
