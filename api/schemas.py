"""Request and response bodies of the reports API, split by purpose."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from reports_pipeline.filters import ReportFilters, StrictModel
from reports_pipeline.job_table import ReportRow, Status
from reports_pipeline.reports import REPORT_TYPES

ReportTypeName = Literal["chat", "contact", "ticket", "call_log", "goal"]


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def _known_zone(name: str) -> str:
    if name not in _zones():
        raise ValueError(f"unknown IANA timezone '{name}'")
    return name


Timezone = Annotated[
    str, Field(max_length=64, examples=["Asia/Kolkata"]), AfterValidator(_known_zone)
]


class ReportCreateBase(StrictModel):
    """What every request body has; each type narrows `type` and `filters`."""

    type: str
    filters: ReportFilters
    timezone: Timezone = "UTC"


def _request_model(name: str) -> type[ReportCreateBase]:
    report_type = REPORT_TYPES[name]
    model: type[ReportCreateBase] = create_model(
        f"{report_type.filters.__name__.removesuffix('Filters')}ReportCreate",
        __base__=ReportCreateBase,
        __doc__=report_type.description,
        type=(Literal[name], ...),  # type: ignore[arg-type]
        filters=(report_type.filters, Field(default_factory=report_type.filters)),
    )
    return model


REQUEST_MODELS = {name: _request_model(name) for name in REPORT_TYPES}

if TYPE_CHECKING:
    ReportCreate = ReportCreateBase
else:
    # One model per type, told apart by `type`: each validates its own filters.
    ReportCreate = Annotated[
        Union[tuple(REQUEST_MODELS.values())],  # noqa: UP007
        Field(discriminator="type"),
    ]


REQUEST_EXAMPLES = {
    name: {"summary": REPORT_TYPES[name].label, "value": REPORT_TYPES[name].example}
    for name in REPORT_TYPES
}


class Link(BaseModel):
    rel: Literal["report"] = "report"
    href: str


class ReportCreated(BaseModel):
    id: str
    type: str
    status: Status
    created_at: datetime
    link: Link


class RequestedBy(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str | None
    name: str | None


class ReportPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    organisation_id: str
    type: str
    status: Status
    filters: dict[str, Any]
    timezone: str
    requested_by: RequestedBy
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    rows_written: int
    row_count: int | None
    file_size_bytes: int | None
    file_name: str | None
    error: str | None

    @classmethod
    def of(cls, row: ReportRow) -> ReportPublic:
        return cls.model_validate(row, from_attributes=True)


class ReportListPublic(BaseModel):
    items: list[ReportPublic]
    next_cursor: str | None


class DownloadPublic(BaseModel):
    url: str
    expires_at: datetime
    file_name: str


class ErrorPublic(BaseModel):
    detail: Any
    code: str
