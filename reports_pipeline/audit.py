"""The audit trail: who exported what, when and why.

One append-only row per request, start, completion, failure, cancel and download-link
issue. Status moves record their event inside the same transaction as the move
(`reports_pipeline.lifecycle`), so an event is there exactly when the move happened; the
API records download links. The row copies the report's request (filters, timezone,
format, purpose), so the trail reads alone.

Tamper-evident: each event carries a SHA-256 hash over its fields and the hash of its
organisation's previous event, as CloudTrail's digest chain does. `verify` walks a chain
and names the first link that does not hold (`python -m reports_pipeline.verify_audit`,
or `GET …/audit/verify`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
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
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("audit_events_by_organisation", "organisation_id", "id"),
)

# Each organisation's newest event: the lock its next event waits on, and the end its
# chain must reach (so removing the newest events shows too).
audit_heads = sa.Table(
    "audit_heads",
    metadata,
    sa.Column("organisation_id", sa.String(64), primary_key=True),
    sa.Column("event_id", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

GENESIS = "0" * 64  # the "previous hash" of an organisation's first event
CHAINED = (
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
    """Append `event` for the report, copied from its row, chained to the organisation's
    previous event. The actor is who acted (a cancel, a download); by default the
    requester, on whose behalf the export is requested, started, completed or failed."""
    report = conn.execute(
        sa.select(
            reports.c.organisation_id,
            reports.c.type,
            reports.c.requested_by_id,
            reports.c.requested_by_email,
            reports.c.requested_by_name,
            reports.c.request,
        ).where(reports.c.id == report_id)
    ).one()
    who = actor or Requester(
        report.requested_by_id, report.requested_by_email, report.requested_by_name
    )
    values: dict[str, Any] = {
        "organisation_id": report.organisation_id,
        "report_id": report_id,
        "report_type": report.type,
        "event": event.value,
        "actor_kind": (
            ActorKind.SCHEDULE if who.id.startswith(SCHEDULE_ACTOR) else ActorKind.USER
        ).value,
        "actor_id": who.id,
        "actor_email": who.email,
        "actor_name": who.name,
        "request": report.request,
        "occurred_at": utcnow(),
    }
    values["hash"] = chain_hash(_lock_head(conn, report.organisation_id), values)
    event_id = conn.execute(
        audit_events.insert().values(**values).returning(audit_events.c.id)
    ).scalar_one()
    conn.execute(
        audit_heads.update()
        .where(audit_heads.c.organisation_id == report.organisation_id)
        .values(event_id=event_id, hash=values["hash"])
    )


def chain_hash(previous: str, event: dict[str, Any]) -> str:
    """SHA-256 over the previous event's hash and this event's recorded fields."""
    fields = [event[name] for name in CHAINED]
    fields[CHAINED.index("occurred_at")] = event["occurred_at"].astimezone(UTC).isoformat()
    document = json.dumps([previous, *fields], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(document.encode()).hexdigest()


def _lock_head(conn: Connection, organisation_id: str) -> str:
    """The hash of the organisation's last event, its head locked until the transaction
    ends, so its events chain one after another however many processes record at once."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(audit_heads)
        .values(organisation_id=organisation_id, event_id=0, hash=GENESIS)
        .on_conflict_do_nothing()
    )
    head: str = conn.execute(
        sa.select(audit_heads.c.hash)
        .where(audit_heads.c.organisation_id == organisation_id)
        .with_for_update()
    ).scalar_one()
    return head


@dataclass(frozen=True)
class Verdict:
    """What a walk along one organisation's chain found."""

    events: int
    broken_at: int | None  # the id of the first event whose hash does not hold
    reason: str | None

    @property
    def intact(self) -> bool:
        return self.broken_at is None and self.reason is None


def verify(engine: Engine, organisation_id: str) -> Verdict:
    """Recompute the organisation's chain from its first event and name the first broken
    link: an edited event, one removed from the middle (the next one breaks), or removed
    from the end (the head no longer matches the last event)."""
    previous, last_id, count = GENESIS, 0, 0
    query = (
        audit_events.select()
        .where(audit_events.c.organisation_id == organisation_id)
        .order_by(audit_events.c.id)
    )
    with engine.connect() as conn:
        head = conn.execute(
            sa.select(audit_heads.c.event_id, audit_heads.c.hash).where(
                audit_heads.c.organisation_id == organisation_id
            )
        ).first()
        for row in conn.execution_options(yield_per=1000).execute(query):
            count += 1
            stored = row._mapping
            if chain_hash(previous, dict(stored)) != stored["hash"]:
                return Verdict(count, stored["id"], "the event does not match its hash")
            previous, last_id = stored["hash"], stored["id"]
    recorded_head = (head.event_id, head.hash) if head else (0, GENESIS)
    if recorded_head != (last_id, previous):
        return Verdict(count, None, "events after the last one found were removed")
    return Verdict(count, None, None)


class InvalidAuditCursor(ValueError):
    pass


class AuditTrail:
    """Reads of the trail, and the one event the API records itself."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def download_link_issued(self, report_id: str, by: Requester) -> None:
        # IMMEDIATE on SQLite: the event's first statement is a read, and a read lock
        # cannot become the write lock while another writer holds it.
        with self.engine.connect().execution_options(immediate=True) as conn, conn.begin():
            record(conn, report_id, AuditEvent.DOWNLOAD_LINK_ISSUED, by)

    def verify(self, organisation_id: str) -> Verdict:
        return verify(self.engine, organisation_id)

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


def organisations(engine: Engine) -> list[str]:
    """Every organisation with a chain, or with events (a chain whose head was removed)."""
    query = sa.union(
        sa.select(audit_heads.c.organisation_id),
        sa.select(audit_events.c.organisation_id).distinct(),
    )
    with engine.connect() as conn:
        return sorted(conn.execute(query).scalars())
