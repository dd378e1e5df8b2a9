"""The job table: one row per export request, shared by the API and the Dagster run.

SQLite (WAL) by default, PostgreSQL in production, through SQLAlchemy Core. The schema
is owned by the Alembic migrations in `reports_pipeline/migrations`; `migrate()` brings a
database to the head revision, one process at a time. This module reads; every write of
a report's status is in `reports_pipeline.lifecycle`.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Connection, Engine

from reports_pipeline.storage import StoredObject

MIGRATIONS = Path(__file__).with_name("migrations")
T = TypeVar("T")
# Any constant: PostgreSQL's advisory lock that lets one process at a time migrate.
MIGRATION_LOCK = 0x7265706F727473


class Status(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


ACTIVE = (Status.PENDING.value, Status.PROCESSING.value)
# Final states that must leave nothing in the store; `discarded_at` says it was checked.
DISCARDED_STATES = (Status.FAILED.value, Status.CANCELED.value)


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
    # The validated request (reports_pipeline.request), as one document.
    sa.Column("request", sa.JSON, nullable=False),
    sa.Column("requested_by_id", sa.Text, nullable=False),
    sa.Column("requested_by_email", sa.Text),
    sa.Column("requested_by_name", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime),
    sa.Column("completed_at", UTCDateTime),
    sa.Column("rows_expected", sa.BigInteger),
    sa.Column("rows_written", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("row_count", sa.BigInteger),
    sa.Column("file_size_bytes", sa.BigInteger),
    sa.Column("file_name", sa.String(255)),
    sa.Column("object_key", sa.String(1024)),
    # What the upload stored (reports_pipeline.storage.StoredObject), checked at download.
    sa.Column("file_sha256", sa.String(64)),
    sa.Column("file_etag", sa.String(128)),
    sa.Column("file_checksum", sa.String(128)),
    sa.Column("error", sa.Text),
    sa.Column("dagster_run_id", sa.String(64)),
    sa.Column("canceled_at", UTCDateTime),
    sa.Column("canceled_by_id", sa.Text),
    sa.Column("canceled_by_email", sa.Text),
    sa.Column("canceled_by_name", sa.Text),
    sa.Column("discarded_at", UTCDateTime),
    # The file is a password-protected ZIP; the password, sealed, until the run used it.
    sa.Column("password_protected", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("sealed_password", sa.Text),
    sa.Index("ix_reports_org_created", "organisation_id", "created_at", "id"),
    sa.Index("ix_reports_run", "dagster_run_id"),
    sa.Index("ix_reports_status_created", "status", "created_at"),
    sa.Index("ix_reports_rate_limit", "organisation_id", "type", "status", "completed_at"),
    # Belt and braces under the rate limit's lock: one active export per type per organisation.
    sa.Index(
        "ux_reports_one_active",
        "organisation_id",
        "type",
        unique=True,
        sqlite_where=sa.text("status IN ('pending', 'processing')"),
        postgresql_where=sa.text("status IN ('pending', 'processing')"),
    ),
    sa.Index(
        "ix_reports_undiscarded",
        "created_at",
        sqlite_where=sa.text("status IN ('failed', 'canceled') AND discarded_at IS NULL"),
        postgresql_where=sa.text("status IN ('failed', 'canceled') AND discarded_at IS NULL"),
    ),
)


@dataclass(frozen=True)
class Requester:
    id: str
    email: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class ReportRow:
    id: str
    organisation_id: str
    type: str
    status: Status
    request: dict[str, Any]
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
    canceled_at: datetime | None
    canceled_by: Requester | None
    discarded_at: datetime | None
    password_protected: bool = False
    rows_expected: int | None = None
    file_sha256: str | None = None
    file_etag: str | None = None
    file_checksum: str | None = None
    sealed_password: str | None = field(default=None, repr=False)

    @property
    def sheets(self) -> int:
        """How many sheets its file holds: the rows, and each related sheet asked for."""
        return 1 + len(self.request.get("related") or [])

    @property
    def stored_object(self) -> StoredObject | None:
        """The object its run uploaded, as recorded then (None before it completed)."""
        if self.object_key is None or self.file_size_bytes is None:
            return None
        return StoredObject(
            key=self.object_key,
            size_bytes=self.file_size_bytes,
            sha256=self.file_sha256 or "",
            etag=self.file_etag or "",  # reports from before the etag was kept: size only
            checksum=self.file_checksum,
        )

    @property
    def filters(self) -> dict[str, Any]:
        return dict(self.request.get("filters", {}))

    @property
    def timezone(self) -> str:
        return str(self.request.get("timezone", "UTC"))

    @property
    def format(self) -> str:
        return str(self.request.get("format", "csv"))

    @property
    def purpose(self) -> str | None:
        return self.request.get("purpose")

    @property
    def store_prefix(self) -> str:
        """Everything the report's runs may have written lives under this key prefix."""
        return f"reports/{self.organisation_id}/{self.id}/"

    @classmethod
    def from_db(cls, row: sa.Row[Any]) -> ReportRow:
        m = row._mapping
        canceled_by = (
            Requester(m["canceled_by_id"], m["canceled_by_email"], m["canceled_by_name"])
            if m["canceled_by_id"] is not None
            else None
        )
        return cls(
            id=m["id"],
            organisation_id=m["organisation_id"],
            type=m["type"],
            status=Status(m["status"]),
            request=m["request"],
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
            canceled_at=m["canceled_at"],
            canceled_by=canceled_by,
            discarded_at=m["discarded_at"],
            password_protected=bool(m["password_protected"]),
            rows_expected=m["rows_expected"],
            file_sha256=m["file_sha256"],
            file_etag=m["file_etag"],
            file_checksum=m["file_checksum"],
            sealed_password=m["sealed_password"],
        )


class InvalidCursor(ValueError):
    pass


def all_tables() -> sa.MetaData:
    """Every table of the job table: each lives beside the code that writes it."""
    from reports_pipeline import audit, schedules, webhooks  # noqa: F401 - they add theirs

    return metadata


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


def migrate(engine: Engine, *, grant_to: str | None = None) -> None:
    """Bring the database to the newest migration (idempotent, and safe to call from any
    number of processes at once: they take turns, and the later ones find nothing to do).
    On PostgreSQL, `grant_to` names the service's role, which then gets exactly what the
    service needs and no more (see `grant_service`)."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    # SQLite: an IMMEDIATE transaction holds the write lock from the start. PostgreSQL: an
    # advisory lock held until the transaction (DDL included) commits.
    with engine.connect().execution_options(immediate=True) as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        if grant_to and connection.dialect.name == "postgresql":
            grant_service(connection, grant_to)


def grant_service(conn: Connection, role: str) -> None:
    """The service's privileges, replacing any it had: read and write every table, except
    that the audit trail is only read and appended to. Not the owner, it cannot TRUNCATE,
    ALTER (so not disable a trigger) or DROP either."""
    preparer = conn.dialect.identifier_preparer
    name = preparer.quote(role)
    schema = preparer.quote(conn.execute(sa.text("SELECT current_schema()")).scalar_one())
    conn.execute(sa.text(f"GRANT USAGE ON SCHEMA {schema} TO {name}"))
    for table in all_tables().sorted_tables:
        rights = (
            "SELECT, INSERT" if table.name == "audit_events" else "SELECT, INSERT, UPDATE, DELETE"
        )
        quoted = preparer.format_table(table)
        conn.execute(sa.text(f"REVOKE ALL ON {quoted} FROM {name}"))
        conn.execute(sa.text(f"GRANT {rights} ON {quoted} TO {name}"))
    conn.execute(sa.text(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {name}"))


def migrate_for(database_url: str, owner_url: str | None) -> None:
    """Migrate the job table: as its owner when one is configured, granting the service's
    role (the user of `database_url`) its privileges; else as the service itself."""
    if owner_url is None:
        engine = make_engine(database_url)
        migrate(engine)
    else:
        engine = make_engine(owner_url)
        migrate(engine, grant_to=sa.engine.make_url(database_url).username)
    engine.dispose()


def utcnow() -> datetime:
    return datetime.now(UTC)


class JobTable:
    """Reads of the job table. Status moves are `reports_pipeline.lifecycle.Lifecycle`'s."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, organisation_id: str, report_id: str) -> ReportRow | None:
        return self._one(
            (reports.c.id == report_id) & (reports.c.organisation_id == organisation_id)
        )

    def get_by_id(self, report_id: str) -> ReportRow | None:
        """For the pipeline, which knows the id from its own run config."""
        return self._one(reports.c.id == report_id)

    def _one(self, where: sa.ColumnElement[bool]) -> ReportRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(reports.select().where(where)).first()
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
        query = query.order_by(reports.c.created_at.desc(), reports.c.id.desc())
        return fetch_page(self.engine, query, limit, ReportRow.from_db, encode_cursor)

    def unsettled(self, *, limit: int = 200) -> list[ReportRow]:
        """Reports the reconciler watches, oldest first: the active ones, and the failed or
        canceled ones whose files are not yet known to be gone."""
        query = (
            reports.select()
            .where(
                reports.c.status.in_(ACTIVE)
                | (reports.c.status.in_(DISCARDED_STATES) & reports.c.discarded_at.is_(None))
            )
            .order_by(reports.c.created_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [ReportRow.from_db(r) for r in conn.execute(query)]

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.select(1))


def fetch_page(
    engine: Engine,
    query: sa.Select[Any],
    limit: int,
    read: Callable[[sa.Row[Any]], T],
    cursor_of: Callable[[T], str],
) -> tuple[list[T], str | None]:
    """One page of an ordered keyset query: at most `limit` rows, and the cursor of the
    last one when more follow (one row more is read to know)."""
    with engine.connect() as conn:
        rows = [read(r) for r in conn.execute(query.limit(limit + 1))]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, cursor_of(rows[-1]) if more else None


def encode_cursor(row: ReportRow) -> str:
    raw = json.dumps([row.created_at.isoformat(), row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, report_id = json.loads(raw)
        parsed = datetime.fromisoformat(created_at).astimezone(UTC)
        if created_at[-6:] not in ("+00:00", "-00:00") or not is_report_id(report_id):
            raise ValueError  # this service writes UTC and a report id, nothing else
    except (ValueError, TypeError, OverflowError, binascii.Error) as error:
        raise InvalidCursor("cursor is not one this service gave out") from error
    return parsed, report_id


def is_report_id(value: object) -> bool:
    """Report ids are UUIDs; anything else (a NUL byte, a path) names no report."""
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
