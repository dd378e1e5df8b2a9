"""Request and response bodies of the reports API, split by purpose."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from reports_pipeline.job_table import ReportRow, Status
from reports_pipeline.reports import REPORT_TYPES
from reports_pipeline.request import ReportRequest as ReportCreate
from reports_pipeline.request import ReportTypeName

__all__ = ["ReportCreate", "ReportTypeName"]

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
    """A person: who asked for an export, or who canceled it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str | None
    name: str | None


class ReportPublic(BaseModel):
    """An export and its state: `pending` → `processing` → `completed`, `failed` or
    `canceled`."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    organisation_id: str
    type: str
    status: Status
    format: str
    purpose: str | None
    filters: dict[str, Any]
    timezone: str
    requested_by: RequestedBy
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    canceled_at: datetime | None
    canceled_by: RequestedBy | None
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
