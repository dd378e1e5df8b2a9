"""What the product offers, as people read it: each report type with its filters, each
file format, the condition operators. Derived from the registries and the filter models
alone, so the API's `GET …/types`, the page and the schedule form cannot drift from them.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from reports_pipeline.filters import (
    DateRange,
    FilterGroup,
    MultiSetFilter,
    NumberRange,
    Predicate,
    PredicateOp,
    SetFilter,
)
from reports_pipeline.formats import FORMATS
from reports_pipeline.reports import REPORT_TYPES, ReportType
from reports_pipeline.zones import canonical_zones

FilterKind = Literal["flag", "text", "set", "dates", "numbers", "conditions"]

# In the order the page shows them.
GROUP_TITLES: dict[FilterGroup, str] = {
    "dates": "Dates",
    "people": "People, teams and channels",
    "status": "Status",
    "flags": "Yes / no",
    "numbers": "Numbers",
    "text": "Search",
    "custom": "Custom fields",
}
KIND_GROUPS: dict[FilterKind, FilterGroup] = {
    "flag": "flags",
    "text": "text",
    "set": "status",
    "dates": "dates",
    "numbers": "numbers",
    "conditions": "custom",
}
OPERATOR_TITLES: dict[PredicateOp, str] = {
    "eq": "is",
    "neq": "is not",
    "contains": "contains",
    "in": "is one of",
    "not_in": "is none of",
    "exists": "is set",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
}
# The names of the fixed values a filter takes (the organisation's own values come with
# theirs from `GET …/options`).
VALUE_NAMES = {
    "whatsapp_official": "WhatsApp (official)",
    "whatsapp_unofficial": "WhatsApp (unofficial)",
    "email": "Email",
    "web_chat": "Web chat",
    "individual": "One-to-one",
    "group": "Group",
    "inbound": "Inbound",
    "outbound": "Outbound",
    "customer": "Customer",
    "agent": "Agent",
    "bot": "Bot",
    "low": "Low",
    "medium": "Medium",
    "high": "High",
}


OPTION_TITLES = {"distribution": "Periods", "group_by": "Group by"}
OPTION_NAMES = {
    "hour": "Hour",
    "day": "Day",
    "day_hours": "Hour of the day (summed)",
    "weekday": "Day of the week",
    "week": "Week (ISO)",
    "month": "Month",
    "year": "Year",
    "none": "Nothing (one row per period)",
}


class Named(BaseModel):
    id: str
    name: str


class FilterInfo(BaseModel):
    name: str
    title: str
    kind: FilterKind
    group: FilterGroup
    unit: str | None = None
    options: str | None = Field(None, description="The `GET …/options` list it picks from")
    choices: list[Named] | None = Field(None, description="Its fixed values, where it has them")
    numeric: bool = Field(False, description="A set filter whose values are numeric ids")
    every: bool = Field(False, description="A set filter that can require every value")


class OptionInfo(BaseModel):
    """A request field of the type's own beside its filters (a summary's periods)."""

    name: str
    title: str
    choices: list[Named]
    default: str


class TypeInfo(BaseModel):
    name: str
    label: str
    description: str
    date_filter: str = Field(description="The date filter a span such as 'last month' sets")
    filters: list[FilterInfo]
    options: list[OptionInfo] = Field(default_factory=list)
    related: list[Named] = Field(
        default_factory=list, description="The sheets `related` may add (id, sheet title)"
    )


class FormatInfo(BaseModel):
    name: str
    label: str
    description: str
    extension: str
    content_type: str


class Catalogue(BaseModel):
    """Everything the product offers, in the order it offers it."""

    types: list[TypeInfo]
    formats: list[FormatInfo]
    groups: list[Named]
    operators: list[Named]
    timezones: list[str] = Field(description="The zones a request's timezone is picked from")


def catalogue() -> Catalogue:
    return Catalogue(
        types=[type_info(t) for t in REPORT_TYPES.values()],
        formats=[
            FormatInfo(
                name=f.name,
                label=f.label,
                description=f.description,
                extension=f.extension,
                content_type=f.content_type,
            )
            for f in FORMATS.values()
        ],
        groups=[Named(id=key, name=title) for key, title in GROUP_TITLES.items()],
        operators=[Named(id=op, name=title) for op, title in OPERATOR_TITLES.items()],
        timezones=list(canonical_zones()),
    )


def type_info(report_type: ReportType) -> TypeInfo:
    return TypeInfo(
        name=report_type.name,
        label=report_type.label,
        description=report_type.description,
        date_filter=report_type.date_filter,
        filters=[filter_info(n, i) for n, i in report_type.filters.model_fields.items()],
        options=[
            option_info(n, i)
            for n, i in (report_type.options.model_fields if report_type.options else {}).items()
        ],
        related=[Named(id=sheet.name, name=sheet.title) for sheet in report_type.related.values()],
    )


def option_info(name: str, info: FieldInfo) -> OptionInfo:
    values = get_args(_shape(info.annotation))
    return OptionInfo(
        name=name,
        title=OPTION_TITLES.get(name, name.replace("_", " ").capitalize()),
        choices=[
            Named(id=v, name=OPTION_NAMES.get(v, v.replace("_", " ").capitalize())) for v in values
        ],
        default=info.default,
    )


def filter_info(name: str, info: FieldInfo) -> FilterInfo:
    shape = _shape(info.annotation)
    kind = _kind(shape)
    extra: dict[str, Any] = (
        info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    )
    item = _set_item(shape) if kind == "set" else None
    fixed = get_args(item) if get_origin(item) is Literal else ()
    names = extra.get("x-names") or {}
    return FilterInfo(
        name=name,
        title=info.title or name.replace("_", " ").capitalize(),
        kind=kind,
        group=extra.get("x-group") or KIND_GROUPS[kind],
        unit=extra.get("x-unit"),
        options=extra.get("x-options"),
        choices=[Named(id=v, name=names.get(v) or VALUE_NAMES.get(v, v)) for v in fixed] or None,
        numeric=item is int,
        every=isinstance(shape, type) and issubclass(shape, MultiSetFilter),
    )


def _shape(annotation: Any) -> Any:
    """The filter's own type: without `None`, `Annotated` and its constraints."""
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _kind(shape: Any) -> FilterKind:
    if shape is bool:
        return "flag"
    if shape is str:
        return "text"
    if shape is DateRange:
        return "dates"
    if shape is NumberRange:
        return "numbers"
    if get_origin(shape) is list and _shape(get_args(shape)[0]) is Predicate:
        return "conditions"
    if isinstance(shape, type) and issubclass(shape, SetFilter):
        return "set"
    raise TypeError(f"no catalogue kind for the filter type {shape!r}")


def _set_item(shape: type[SetFilter[Any]]) -> Any:
    """The type of a set filter's values (`int`, `str` or a `Literal` of names)."""
    values = shape.model_fields["values"].annotation
    return _shape(get_args(_shape(values))[0])
