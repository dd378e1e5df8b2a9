"""Request and response bodies of the reports API, split by purpose."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from reports_pipeline.audit import ActorKind, AuditEvent, AuditRow, Verdict
from reports_pipeline.contract import ReportPublic, RequestedBy
from reports_pipeline.formats.dialect import CsvDialect
from reports_pipeline.job_table import Status
from reports_pipeline.preview import previews
from reports_pipeline.reports import REPORT_TYPES
from reports_pipeline.request import ReportRequest as ReportCreate
from reports_pipeline.request import ReportTypeName, Selection, SelectionBase
from reports_pipeline.schedules import ScheduleRow
from reports_pipeline.webhooks import DeliveryRow, WebhookRow

__all__ = ["ReportCreate", "ReportPublic", "ReportTypeName", "RequestedBy", "Selection"]

REQUEST_EXAMPLES = {
    name: {"summary": REPORT_TYPES[name].label, "value": REPORT_TYPES[name].example}
    for name in REPORT_TYPES
}
# A count takes the request's rows only: its type, timezone and filters.
COUNT_EXAMPLES = {
    name: {
        "summary": REPORT_TYPES[name].label,
        "value": {
            k: v for k, v in REPORT_TYPES[name].example.items() if k in SelectionBase.model_fields
        },
    }
    for name in REPORT_TYPES
}
# A preview is for the summaries, with their periods and grouping.
PREVIEW_EXAMPLES = {
    name: {"summary": REPORT_TYPES[name].label, "value": REPORT_TYPES[name].example}
    for name in REPORT_TYPES
    if previews(REPORT_TYPES[name])
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


class ActorPublic(RequestedBy):
    """Who acted: a person (`user`), or the schedule that fired (`schedule`)."""

    kind: ActorKind


class AuditEventPublic(BaseModel):
    """One event of a report's history, with the request as it was made."""

    id: str
    event: AuditEvent
    report_id: str
    type: str
    actor: ActorPublic
    filters: dict[str, Any]
    timezone: str
    format: str
    purpose: str | None
    occurred_at: datetime

    @classmethod
    def of(cls, row: AuditRow) -> AuditEventPublic:
        request = row.request
        return cls(
            id=str(row.id),
            event=row.event,
            report_id=row.report_id,
            type=row.report_type,
            actor=ActorPublic(
                kind=row.actor_kind, id=row.actor.id, email=row.actor.email, name=row.actor.name
            ),
            filters=request.get("filters", {}),
            timezone=request.get("timezone", "UTC"),
            format=request.get("format", "csv"),
            purpose=request.get("purpose"),
            occurred_at=row.occurred_at,
        )


class AuditVerdictPublic(BaseModel):
    """The organisation's audit chain recomputed from its first event."""

    intact: bool
    events: int = Field(description="How many events were checked")
    broken_at: str | None = Field(
        description="The first event that does not match its hash (edited, or the one "
        "after a removed event)"
    )
    reason: str | None

    @classmethod
    def of(cls, verdict: Verdict) -> AuditVerdictPublic:
        broken_at = str(verdict.broken_at) if verdict.broken_at is not None else None
        return cls(
            intact=verdict.intact, events=verdict.events, broken_at=broken_at, reason=verdict.reason
        )


class AuditListPublic(BaseModel):
    items: list[AuditEventPublic]
    next_cursor: str | None


class ReportListPublic(BaseModel):
    items: list[ReportPublic]
    next_cursor: str | None


class RowCountPublic(BaseModel):
    """How many rows an export of this selection would hold, counted in the replica now."""

    type: ReportTypeName
    rows: int | None = Field(
        description="When `exact`, the rows the export would hold; otherwise at most this "
        "many (some filters are decided only while the export runs). Null where the type "
        "cannot be counted before it runs (`message`)."
    )
    exact: bool


class ColumnsPublic(BaseModel):
    """The header an export of this selection would have, in order."""

    type: ReportTypeName
    columns: list[str]


class PreviewPublic(BaseModel):
    """A summary's first periods, with the numbers its file gives them."""

    type: ReportTypeName
    columns: list[str] = Field(description="The file's header, in order")
    keys: list[str] = Field(
        description="The columns after `Period` that say what a row is of (its group or "
        "agent); empty when there is one row per period"
    )
    measures: list[str] = Field(description="The columns that are numbers to draw")
    rows: list[dict[str, str | int | float | None]] = Field(
        description="One object per row of the file, keyed by `columns`"
    )
    from_: datetime = Field(
        alias="from", description="The first instant covered, in the request's timezone"
    )
    to: datetime = Field(description="The instant after the last one covered (exclusive)")
    complete: bool = Field(
        description="Whether the preview covers the whole range; otherwise it ends after "
        "the first `periods` periods or a quarter of the range, whichever comes first"
    )


class DownloadPublic(BaseModel):
    url: str
    expires_at: datetime
    file_name: str


class ErrorPublic(BaseModel):
    """Every error: `detail` is the human text of the contract, `code` the machine one."""

    detail: str
    code: str


class UnauthorizedPublic(ErrorPublic):
    reason: str | None = Field(
        None, description="Why a correctly signed token was refused (e.g. unusable claims)."
    )


class ConflictPublic(ErrorPublic):
    """The rate limit: `report_in_progress` or `report_completed_recently`."""

    existing_report_id: str = Field(description="The export that holds the limit.")


class NotDownloadablePublic(ErrorPublic):
    """`report_not_ready`, or `report_failed` with the reason in `error`."""

    error: str | None = None


class FieldError(BaseModel):
    type: str
    loc: list[str | int]
    msg: str


class ValidationErrorPublic(BaseModel):
    detail: list[FieldError]
    code: Literal["validation_error"]


class FiringPublic(BaseModel):
    """What one due time of a schedule did."""

    due_at: datetime
    fired_at: datetime
    outcome: Literal["requested", "skipped"]
    report_id: str | None = Field(description="The report it requested (None when skipped)")
    detail: str | None


class SchedulePublic(BaseModel):
    """A recurring export. Each firing is an ordinary report whose `requested_by` names
    the schedule (`id` "schedule:<schedule id>", `name` the schedule's name)."""

    id: str
    organisation_id: str
    name: str
    cron: str
    timezone: str
    type: str
    filters: dict[str, Any]
    format: str
    columns: list[str] | None = Field(None, description="The columns chosen, if any")
    csv: CsvDialect | None = Field(None, description="The CSV dialect, where one was chosen")
    related: list[str] | None = Field(None, description="The related sheets, if any")
    purpose: str | None
    distribution: str | None = Field(None, description="A summary's periods")
    group_by: str | None = Field(None, description="A chat summary's groups")
    paused: bool
    next_fire_at: datetime | None = Field(description="The next due time (None while paused)")
    last_firing: FiringPublic | None
    created_by: RequestedBy
    created_at: datetime

    @classmethod
    def of(cls, row: ScheduleRow) -> SchedulePublic:
        last = row.last_firing
        return cls(
            id=row.id,
            organisation_id=row.organisation_id,
            name=row.name,
            cron=row.cron,
            timezone=row.timezone,
            type=row.request["type"],
            filters=row.request.get("filters", {}),
            format=row.request.get("format", "csv"),
            csv=row.request.get("csv"),
            columns=row.request.get("columns"),
            related=row.request.get("related"),
            purpose=row.request.get("purpose"),
            distribution=row.request.get("distribution"),
            group_by=row.request.get("group_by"),
            paused=row.paused,
            next_fire_at=None if row.paused else row.next_due_at,
            last_firing=FiringPublic(**vars(last)) if last else None,
            created_by=RequestedBy(**vars(row.created_by)),
            created_at=row.created_at,
        )


class ScheduleListPublic(BaseModel):
    items: list[SchedulePublic]


class WebhookPublic(BaseModel):
    id: str
    organisation_id: str
    url: str
    events: list[str]
    created_at: datetime

    @classmethod
    def of(cls, row: WebhookRow) -> WebhookPublic:
        return cls(**vars(row))


class WebhookCreated(WebhookPublic):
    secret: str = Field(
        description="Signs every delivery (X-Reports-Signature). Shown only in this answer."
    )


class WebhookListPublic(BaseModel):
    items: list[WebhookPublic]


class AttemptPublic(BaseModel):
    number: int
    attempted_at: datetime
    status_code: int | None = Field(description="The endpoint's answer (None: no answer)")
    error: str | None
    duration_ms: int


class DeliveryPublic(BaseModel):
    id: str = Field(description="The event id the endpoint receives (X-Reports-Event-Id)")
    event: str
    report_id: str
    created_at: datetime
    state: Literal["pending", "delivered", "failed"]
    next_attempt_at: datetime | None
    attempts: list[AttemptPublic]

    @classmethod
    def of(cls, row: DeliveryRow) -> DeliveryPublic:
        return cls(
            id=row.id,
            event=row.event,
            report_id=row.report_id,
            created_at=row.created_at,
            state=row.state,  # type: ignore[arg-type]
            next_attempt_at=row.next_attempt_at,
            attempts=[AttemptPublic(**vars(a)) for a in row.attempts],
        )


class DeliveryListPublic(BaseModel):
    items: list[DeliveryPublic]
