"""The audit trail: who exported what, when and why.

One append-only row per request, start, completion, failure, cancel and download-link
issue. Status moves record their event inside the same transaction as the move
(`reports_pipeline.lifecycle`), so an event is there exactly when the move happened; the
API records download links. The row copies the report's request (filters, timezone,
format, purpose), so the trail reads alone.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from reports_pipeline.job_table import (
    Requester,
    UTCDateTime,
    fetch_page,
    metadata,
    reports,
    utcnow,
)


class AuditEvent(StrEnum):
    REQUESTED = "report.requested"
    STARTED = "report.started"
    COMPLETED = "report.completed"
    FAILED = "report.failed"
    CANCELED = "report.canceled"
    DOWNLOAD_LINK_ISSUED = "report.download_link_issued"


class ActorKind(StrEnum):
    USER = "user"
    SCHEDULE = "schedule"


SCHEDULE_ACTOR = "schedule:"  # the requester id of a schedule's firings: schedule:<id>


audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("organisation_id", sa.String(64), nullable=False),
    sa.Column("report_id", sa.String(36), nullable=False),
    sa.Column("report_type", sa.String(16), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("actor_kind", sa.String(16), nullable=False),
    sa.Column("actor_id", sa.Text, nullable=False),
    sa.Column("actor_email", sa.Text),
    sa.Column("actor_name", sa.Text),
    sa.Column("request", sa.JSON, nullable=False),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Index("audit_events_by_organisation", "organisation_id", "id"),
)


@dataclass(frozen=True)
class AuditRow:
    id: int
    organisation_id: str
    report_id: str
    report_type: str
    event: AuditEvent
    actor_kind: ActorKind
    actor: Requester
    request: dict[str, Any]
    occurred_at: datetime

    @classmethod
    def from_db(cls, row: sa.Row[Any]) -> AuditRow:
        m = row._mapping
        return cls(
            id=m["id"],
            organisation_id=m["organisation_id"],
            report_id=m["report_id"],
            report_type=m["report_type"],
            event=AuditEvent(m["event"]),
            actor_kind=ActorKind(m["actor_kind"]),
            actor=Requester(m["actor_id"], m["actor_email"], m["actor_name"]),
            request=m["request"],
            occurred_at=m["occurred_at"],
        )


def record(
    conn: Connection, report_id: str, event: AuditEvent, actor: Requester | None = None
) -> None:
    """Append `event` for the report, copied from its row in the same statement. The actor
    is who acted (a cancel, a download); by default the requester, on whose behalf the
    export is requested, started, completed or failed."""
    columns = (reports.c.requested_by_id, reports.c.requested_by_email, reports.c.requested_by_name)
    given = (actor.id, actor.email, actor.name) if actor else ()
    who = tuple(sa.literal(v, sa.Text) for v in given) if actor else columns
    conn.execute(
        audit_events.insert().from_select(
            [
                "organisation_id",
                "report_id",
                "report_type",
                "event",
                "actor_kind",
                "actor_id",
                "actor_email",
                "actor_name",
                "request",
                "occurred_at",
            ],
            sa.select(
                reports.c.organisation_id,
                reports.c.id,
                reports.c.type,
                sa.literal(event.value, sa.String),
                sa.case(
                    (who[0].startswith(SCHEDULE_ACTOR), ActorKind.SCHEDULE.value),
                    else_=ActorKind.USER.value,
                ),
                *who,
                reports.c.request,
                sa.literal(utcnow(), UTCDateTime),
            ).where(reports.c.id == report_id),
        )
    )


class InvalidAuditCursor(ValueError):
    pass


class AuditTrail:
    """Reads of the trail, and the one event the API records itself."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def download_link_issued(self, report_id: str, by: Requester) -> None:
        with self.engine.begin() as conn:
            record(conn, report_id, AuditEvent.DOWNLOAD_LINK_ISSUED, by)

    def page(
        self,
        organisation_id: str,
        *,
        limit: int,
        cursor: str | None = None,
        report_id: str | None = None,
    ) -> tuple[list[AuditRow], str | None]:
        """Newest first, keyset-paginated on the event id (events are only ever appended)."""
        query = audit_events.select().where(audit_events.c.organisation_id == organisation_id)
        if report_id:
            query = query.where(audit_events.c.report_id == report_id)
        if cursor:
            query = query.where(audit_events.c.id < _decode(cursor))
        query = query.order_by(audit_events.c.id.desc())
        return fetch_page(self.engine, query, limit, AuditRow.from_db, lambda row: _encode(row.id))


def _encode(event_id: int) -> str:
    return base64.urlsafe_b64encode(f"audit:{event_id}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = raw.partition(":")
        if prefix != "audit" or not number.isdigit() or len(number) > 18:
            raise ValueError
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise InvalidAuditCursor("cursor is not one this service gave out") from error
    return int(number)
