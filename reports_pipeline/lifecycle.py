"""Every move of a report's status, and nothing else writes it.

    pending ──claim(run)──▶ processing(run) ──complete(run)──▶ completed
       │                        │ fail(run) ──────────────────▶ failed
       │ fail(never claimed) ───┼─────────────────────────────▶ failed
       └──────── cancel ────────┴─────────────────────────────▶ canceled

Each move is one conditional UPDATE naming the state it leaves and, once a run owns the
report, that run; it returns whether it applied, and callers act on the answer. So a run
that lost its report (canceled, or failed by the reconciler) can neither report progress
nor complete it, and two runs can never both own one report. Every move to a final state
erases the report's sealed file password.

A new request passes the rate limit (one active export per type and organisation, none
completed in the last five minutes) inside the same transaction as its insert.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from reports_pipeline import audit, webhooks
from reports_pipeline.audit import AuditEvent
from reports_pipeline.job_table import (
    ACTIVE,
    DISCARDED_STATES,
    ReportRow,
    Requester,
    Status,
    utcnow,
)
from reports_pipeline.job_table import reports as table
from reports_pipeline.request import RequestBase
from reports_pipeline.storage import StoredObject

RATE_LIMIT_WINDOW = timedelta(minutes=5)


class ReportInProgress(Exception):
    def __init__(self, existing_id: str) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id


class CompletedRecently(Exception):
    def __init__(self, existing_id: str, retry_after_s: int) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id
        self.retry_after_s = retry_after_s


class Lifecycle:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def request(
        self,
        organisation_id: str,
        request: RequestBase,
        requested_by: Requester,
        *,
        sealed_password: str | None = None,
        now: datetime | None = None,
        report_id: str | None = None,
    ) -> ReportRow:
        """A new `pending` report, unless the rate limit refuses it (atomically).
        `sealed_password`: the file is to be protected with this (sealed) password.
        `report_id`: its id, when the caller must make the same report only once (a
        schedule's firing); a second request with it raises `sqlalchemy.exc.IntegrityError`."""
        now = now or utcnow()
        with self.engine.connect().execution_options(immediate=True) as conn, conn.begin():
            _lock_type(conn, organisation_id, request.type)
            _check_rate_limit(conn, organisation_id, request.type, now)
            report_id = report_id or str(uuid.uuid4())
            conn.execute(
                table.insert().values(
                    id=report_id,
                    organisation_id=organisation_id,
                    type=request.type,
                    status=Status.PENDING.value,
                    request=request.document(),
                    requested_by_id=requested_by.id,
                    requested_by_email=requested_by.email,
                    requested_by_name=requested_by.name,
                    created_at=now,
                    rows_written=0,
                    password_protected=sealed_password is not None,
                    sealed_password=sealed_password,
                )
            )
            audit.record(conn, report_id, AuditEvent.REQUESTED)
            row = conn.execute(table.select().where(table.c.id == report_id)).one()
        return ReportRow.from_db(row)

    def claim(self, report_id: str, run_id: str, *, now: datetime | None = None) -> bool:
        """pending -> processing, owned by `run_id`. False: another run has it, or it ended."""
        return self._move(
            report_id,
            leaving=Status.PENDING,
            event=AuditEvent.STARTED,
            status=Status.PROCESSING.value,
            started_at=now or utcnow(),
            dagster_run_id=run_id,
        )

    def expect(self, report_id: str, run_id: str, rows_expected: int) -> bool:
        """The run counted the rows its export matches. False: it no longer owns the report."""
        return self._move(
            report_id, leaving=Status.PROCESSING, run_id=run_id, rows_expected=rows_expected
        )

    def progress(self, report_id: str, run_id: str, rows_written: int) -> bool:
        """False: the run no longer owns a processing report (canceled or failed meanwhile)."""
        return self._move(
            report_id, leaving=Status.PROCESSING, run_id=run_id, rows_written=rows_written
        )

    def complete(
        self, report_id: str, run_id: str, *, row_count: int, file_name: str, stored: StoredObject
    ) -> bool:
        return self._move(
            report_id,
            leaving=Status.PROCESSING,
            run_id=run_id,
            event=AuditEvent.COMPLETED,
            status=Status.COMPLETED.value,
            sealed_password=None,
            completed_at=utcnow(),
            rows_written=row_count,
            row_count=row_count,
            rows_expected=sa.func.coalesce(table.c.rows_expected, row_count),  # counted now
            file_size_bytes=stored.size_bytes,
            file_name=file_name,
            object_key=stored.key,
            file_sha256=stored.sha256,
            file_etag=stored.etag,
            file_checksum=stored.checksum,
        )

    def fail(
        self, report_id: str, reason: str, *, run_id: str | None, discarded: bool = False
    ) -> bool:
        """processing(run_id) -> failed; with `run_id=None`, a pending report no run claimed.
        `discarded`: nothing of the report is left in the store (checked by the caller)."""
        now = utcnow()
        return self._move(
            report_id,
            leaving=Status.PROCESSING if run_id else Status.PENDING,
            run_id=run_id,
            event=AuditEvent.FAILED,
            status=Status.FAILED.value,
            sealed_password=None,
            completed_at=now,
            error=reason,
            discarded_at=now if discarded or run_id is None else None,
        )

    def cancel(self, organisation_id: str, report_id: str, by: Requester) -> bool:
        """pending or processing -> canceled. False: it had already finished."""
        statement = (
            table.update()
            .where(
                table.c.id == report_id,
                table.c.organisation_id == organisation_id,
                table.c.status.in_(ACTIVE),
            )
            .values(
                status=Status.CANCELED.value,
                canceled_at=utcnow(),
                canceled_by_id=by.id,
                canceled_by_email=by.email,
                canceled_by_name=by.name,
                sealed_password=None,
            )
        )
        return self._execute(statement, report_id, AuditEvent.CANCELED, by)

    def mark_discarded(self, report_id: str) -> bool:
        """A failed or canceled report's files are known to be gone from the store."""
        statement = (
            table.update()
            .where(
                table.c.id == report_id,
                table.c.status.in_(DISCARDED_STATES),
                table.c.discarded_at.is_(None),
            )
            .values(discarded_at=utcnow())
        )
        return self._execute(statement)

    def _move(
        self,
        report_id: str,
        *,
        leaving: Status,
        run_id: str | None = None,
        event: AuditEvent | None = None,
        **values: Any,
    ) -> bool:
        statement = table.update().where(table.c.id == report_id, table.c.status == leaving.value)
        if run_id is not None:
            statement = statement.where(table.c.dagster_run_id == run_id)
        return self._execute(statement.values(**values), report_id, event)

    def _execute(
        self,
        statement: sa.Update,
        report_id: str | None = None,
        event: AuditEvent | None = None,
        actor: Requester | None = None,
    ) -> bool:
        """Run one move; when it applied, record its audit event in the same transaction."""
        with self.engine.begin() as conn:
            applied = conn.execute(statement).rowcount == 1
            if applied and event and report_id:
                audit.record(conn, report_id, event, actor)
                webhooks.enqueue(conn, report_id, event.value)
            return applied


def _lock_type(conn: Connection, organisation_id: str, report_type: str) -> None:
    if conn.dialect.name == "postgresql":
        key = sa.func.hashtextextended(f"{organisation_id}\x1f{report_type}", 0)
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


def _check_rate_limit(
    conn: Connection, organisation_id: str, report_type: str, now: datetime
) -> None:
    same = (table.c.organisation_id == organisation_id) & (table.c.type == report_type)
    active = conn.execute(
        sa.select(table.c.id).where(same, table.c.status.in_(ACTIVE)).limit(1)
    ).first()
    if active:
        raise ReportInProgress(active.id)
    recent = conn.execute(
        sa.select(table.c.id, table.c.completed_at)
        .where(
            same,
            table.c.status == Status.COMPLETED.value,
            table.c.completed_at > now - RATE_LIMIT_WINDOW,
        )
        .order_by(table.c.completed_at.desc())
        .limit(1)
    ).first()
    if recent:
        wait = RATE_LIMIT_WINDOW - (now - recent.completed_at)
        raise CompletedRecently(recent.id, max(1, math.ceil(wait.total_seconds())))
