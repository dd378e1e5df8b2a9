"""The job table: one row per export request, shared by the API and the Dagster run.

SQLite (WAL) by default, PostgreSQL in production, through SQLAlchemy Core. The schema
is owned by the Alembic migrations in `reports_pipeline/migrations`; `migrate()` brings a
database to the head revision.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Connection, Engine

RATE_LIMIT_WINDOW = timedelta(minutes=5)
MIGRATIONS = Path(__file__).with_name("migrations")


class Status(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


ACTIVE = (Status.PENDING.value, Status.PROCESSING.value)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Stores UTC; always gives back aware UTC datetimes (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the job table")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

reports = sa.Table(
    "reports",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organisation_id", sa.String(64), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("filters", sa.JSON, nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("requested_by_id", sa.String(255), nullable=False),
    sa.Column("requested_by_email", sa.String(320)),
    sa.Column("requested_by_name", sa.String(255)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime),
    sa.Column("completed_at", UTCDateTime),
    sa.Column("rows_written", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("row_count", sa.BigInteger),
    sa.Column("file_size_bytes", sa.BigInteger),
    sa.Column("file_name", sa.String(255)),
    sa.Column("object_key", sa.String(1024)),
    sa.Column("error", sa.Text),
    sa.Column("dagster_run_id", sa.String(64)),
)


@dataclass(frozen=True)
class Requester:
    id: str
    email: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class NewReport:
    organisation_id: str
    type: str
    filters: dict[str, Any]
    timezone: str
    requested_by: Requester


@dataclass(frozen=True)
class ReportRow:
    id: str
    organisation_id: str
    type: str
    status: Status
    filters: dict[str, Any]
    timezone: str
    requested_by: Requester
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    rows_written: int
    row_count: int | None
    file_size_bytes: int | None
    file_name: str | None
    object_key: str | None
    error: str | None
    dagster_run_id: str | None

    @classmethod
    def from_db(cls, row: sa.Row[Any]) -> ReportRow:
        m = row._mapping
        return cls(
            id=m["id"],
            organisation_id=m["organisation_id"],
            type=m["type"],
            status=Status(m["status"]),
            filters=m["filters"],
            timezone=m["timezone"],
            requested_by=Requester(
                m["requested_by_id"], m["requested_by_email"], m["requested_by_name"]
            ),
            created_at=m["created_at"],
            started_at=m["started_at"],
            completed_at=m["completed_at"],
            rows_written=m["rows_written"],
            row_count=m["row_count"],
            file_size_bytes=m["file_size_bytes"],
            file_name=m["file_name"],
            object_key=m["object_key"],
            error=m["error"],
            dagster_run_id=m["dagster_run_id"],
        )


class ReportInProgress(Exception):
    def __init__(self, existing_id: str) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id


class CompletedRecently(Exception):
    def __init__(self, existing_id: str, retry_after_s: int) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id
        self.retry_after_s = retry_after_s


class InvalidCursor(ValueError):
    pass


def make_engine(url: str) -> Engine:
    """An engine for the job table; SQLite gets WAL, a busy timeout and IMMEDIATE writes."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    parsed = sa.engine.make_url(url)
    if parsed.drivername == "postgresql":  # SQLAlchemy 2.1 would pick psycopg 3; we ship psycopg2
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return sa.create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _configure_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A rate-limited insert takes the write lock up front, so check-then-insert
        # runs alone; every other transaction is a plain deferred one.
        immediate = conn.get_execution_options().get("immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def migrate(engine: Engine) -> None:
    """Bring the database to the newest migration (idempotent)."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def utcnow() -> datetime:
    return datetime.now(UTC)


class JobTable:
    """Every read and write of the job table goes through here."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, new: NewReport, *, now: datetime | None = None) -> ReportRow:
        """Insert a pending report, unless the rate limit refuses it (atomically)."""
        now = now or utcnow()
        with self.engine.connect().execution_options(immediate=True) as conn, conn.begin():
            self._lock_type(conn, new.organisation_id, new.type)
            self._check_rate_limit(conn, new.organisation_id, new.type, now)
            report_id = str(uuid.uuid4())
            conn.execute(
                reports.insert().values(
                    id=report_id,
                    organisation_id=new.organisation_id,
                    type=new.type,
                    status=Status.PENDING.value,
                    filters=new.filters,
                    timezone=new.timezone,
                    requested_by_id=new.requested_by.id,
                    requested_by_email=new.requested_by.email,
                    requested_by_name=new.requested_by.name,
                    created_at=now,
                    rows_written=0,
                )
            )
            row = conn.execute(reports.select().where(reports.c.id == report_id)).one()
        return ReportRow.from_db(row)

    def _lock_type(self, conn: Connection, organisation_id: str, report_type: str) -> None:
        if conn.dialect.name == "postgresql":
            key = sa.func.hashtextextended(f"{organisation_id}\x1f{report_type}", 0)
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))

    def _check_rate_limit(
        self, conn: Connection, organisation_id: str, report_type: str, now: datetime
    ) -> None:
        same = (reports.c.organisation_id == organisation_id) & (reports.c.type == report_type)
        active = conn.execute(
            sa.select(reports.c.id).where(same, reports.c.status.in_(ACTIVE)).limit(1)
        ).first()
        if active:
            raise ReportInProgress(active.id)
        recent = conn.execute(
            sa.select(reports.c.id, reports.c.completed_at)
            .where(
                same,
                reports.c.status == Status.COMPLETED.value,
                reports.c.completed_at > now - RATE_LIMIT_WINDOW,
            )
            .order_by(reports.c.completed_at.desc())
            .limit(1)
        ).first()
        if recent:
            wait = RATE_LIMIT_WINDOW - (now - recent.completed_at)
            raise CompletedRecently(recent.id, max(1, math.ceil(wait.total_seconds())))

    def get(self, organisation_id: str, report_id: str) -> ReportRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                reports.select().where(
                    reports.c.id == report_id, reports.c.organisation_id == organisation_id
                )
            ).first()
        return ReportRow.from_db(row) if row else None

    def get_by_id(self, report_id: str) -> ReportRow | None:
        """For the pipeline, which knows the id from its own run config."""
        with self.engine.connect() as conn:
            row = conn.execute(reports.select().where(reports.c.id == report_id)).first()
        return ReportRow.from_db(row) if row else None

    def page(
        self,
        organisation_id: str,
        *,
        limit: int,
        cursor: str | None = None,
        report_type: str | None = None,
        status: str | None = None,
    ) -> tuple[list[ReportRow], str | None]:
        """Newest first, keyset-paginated on (created_at, id)."""
        query = reports.select().where(reports.c.organisation_id == organisation_id)
        if report_type:
            query = query.where(reports.c.type == report_type)
        if status:
            query = query.where(reports.c.status == status)
        if cursor:
            created_at, last_id = decode_cursor(cursor)
            query = query.where(
                sa.or_(
                    reports.c.created_at < created_at,
                    sa.and_(reports.c.created_at == created_at, reports.c.id < last_id),
                )
            )
        query = query.order_by(reports.c.created_at.desc(), reports.c.id.desc()).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = [ReportRow.from_db(r) for r in conn.execute(query)]
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1]) if more else None

    def set_run_id(self, report_id: str, run_id: str) -> None:
        self._update(report_id, (), dagster_run_id=run_id)

    def claim(self, report_id: str, run_id: str, *, now: datetime | None = None) -> bool:
        """pending -> processing for this run; False if another run already has it."""
        return self._update(
            report_id,
            (Status.PENDING.value,),
            status=Status.PROCESSING.value,
            started_at=now or utcnow(),
            dagster_run_id=run_id,
            rows_written=0,
        )

    def record_progress(self, report_id: str, rows_written: int) -> None:
        self._update(report_id, (Status.PROCESSING.value,), rows_written=rows_written)

    def complete(
        self, report_id: str, *, row_count: int, size_bytes: int, file_name: str, object_key: str
    ) -> bool:
        return self._update(
            report_id,
            (Status.PROCESSING.value,),
            status=Status.COMPLETED.value,
            completed_at=utcnow(),
            rows_written=row_count,
            row_count=row_count,
            file_size_bytes=size_bytes,
            file_name=file_name,
            object_key=object_key,
        )

    def fail(self, report_id: str, reason: str) -> bool:
        """Mark an unfinished report failed; a finished one keeps its status."""
        return self._update(
            report_id, ACTIVE, status=Status.FAILED.value, completed_at=utcnow(), error=reason
        )

    def pending_unlaunched(self, *, older_than: datetime, limit: int = 50) -> list[ReportRow]:
        """Pending requests whose launch was never recorded (Dagster was unreachable)."""
        query = (
            reports.select()
            .where(
                reports.c.status == Status.PENDING.value,
                reports.c.dagster_run_id.is_(None),
                reports.c.created_at < older_than,
            )
            .order_by(reports.c.created_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [ReportRow.from_db(r) for r in conn.execute(query)]

    def by_run_id(self, run_id: str) -> ReportRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(reports.select().where(reports.c.dagster_run_id == run_id)).first()
        return ReportRow.from_db(row) if row else None

    def _update(self, report_id: str, only_if: Sequence[str], **values: Any) -> bool:
        statement = reports.update().where(reports.c.id == report_id).values(**values)
        if only_if:
            statement = statement.where(reports.c.status.in_(only_if))
        with self.engine.begin() as conn:
            return conn.execute(statement).rowcount == 1

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.select(1))


def encode_cursor(row: ReportRow) -> str:
    raw = json.dumps([row.created_at.isoformat(), row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, report_id = json.loads(raw)
        parsed = datetime.fromisoformat(created_at)
        if parsed.tzinfo is None or not isinstance(report_id, str):
            raise ValueError
    except (ValueError, TypeError, binascii.Error) as error:
        raise InvalidCursor("cursor is not one this service gave out") from error
    return parsed, report_id
