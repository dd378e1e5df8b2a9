"""Recurring exports: a schedule is a stored request plus a cron in its own timezone.

A firing is an ordinary report request (the lifecycle's rate limit included), made by the
`fire_schedules` sensor for each due time. Exactly once per due time: the report's id is
derived from the schedule and the due time, so a second evaluation of the same due time
(a sensor tick redone after a crash or a daemon restart) meets the report it already made.
Every due time's outcome is kept in `schedule_firings`.

Missed due times (the daemon was down) are not made up one by one: the first tick after
the downtime fires the most recent one, late, and notes how many earlier ones it missed.

Date bounds may be relative, resolved at each firing in the schedule's timezone: `"<n>
<unit> start"` or `"<n> <unit> end"`, with `n` a signed whole number and `unit` one of day,
week, month, quarter, year — `{"from": "-1 month start", "to": "-1 month end"}` is last
month, `{"from": "-7 day start", "to": "-1 day end"}` the seven days before the firing.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Optional
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from croniter import CroniterBadDateError, croniter
from pydantic import AfterValidator, Field, create_model
from sqlalchemy.engine import Engine

from reports_pipeline.audit import SCHEDULE_ACTOR
from reports_pipeline.filters import StrictModel
from reports_pipeline.job_table import Requester, UTCDateTime, metadata, reports, utcnow
from reports_pipeline.lifecycle import CompletedRecently, Lifecycle, ReportInProgress
from reports_pipeline.reports import REPORT_TYPES
from reports_pipeline.request import (
    ReportTypeName,
    RequestBase,
    Timezone,
    parse_request,
)

MAX_NAME = 200
_RELATIVE = re.compile(r"^([+-]?[0-9]{1,4}) (day|week|month|quarter|year)s? (start|end)$")
_CRON_FIELDS = re.compile(r"[0-9A-Za-z*/,?#-]+( [0-9A-Za-z*/,?#-]+){4}")  # ASCII only
_NAMESPACE = uuid.UUID("5b0c3c1e-6a55-4f0e-9a43-2f1f9c1b7d21")  # of firing report ids

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organisation_id", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("cron", sa.String(100), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    # type, filters (relative bounds as given), timezone, format, purpose
    sa.Column("request", sa.JSON, nullable=False),
    sa.Column("created_by_id", sa.Text, nullable=False),
    sa.Column("created_by_email", sa.Text),
    sa.Column("created_by_name", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("next_due_at", UTCDateTime, nullable=False),
    sa.Index("schedules_by_due_time", "paused", "next_due_at"),
)

firings = sa.Table(
    "schedule_firings",
    metadata,
    sa.Column("schedule_id", sa.String(36), primary_key=True),
    sa.Column("due_at", UTCDateTime, primary_key=True),
    sa.Column("fired_at", UTCDateTime, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # requested | skipped
    sa.Column("report_id", sa.String(36)),
    sa.Column("detail", sa.Text),
)


def _cron(value: str) -> str:
    if not (_CRON_FIELDS.fullmatch(value) and croniter.is_valid(value)):
        raise ValueError("not a cron expression of five fields (minute hour day month weekday)")
    try:
        next_due(value, "UTC", utcnow())
    except CroniterBadDateError:
        raise ValueError("this cron expression never falls on a real date") from None
    return value


Cron = Annotated[str, Field(max_length=100, examples=["0 6 1 * *"]), AfterValidator(_cron)]


class _Schedule(StrictModel):
    name: str = Field(min_length=1, max_length=MAX_NAME, examples=["Last month's chats"])
    cron: Cron
    type: ReportTypeName
    timezone: Timezone = "UTC"  # the cron's zone, and the request's
    # Checked against the type's filters when it fires; bounds may be relative.
    filters: dict[str, Any] = Field(
        default_factory=dict,
        description="The type's filters; date bounds may be relative ('-1 month start').",
    )

    def request_at(self, due_at: datetime) -> RequestBase:
        """The export request of the firing due at `due_at` (its dates resolved)."""
        return request_at(self.model_dump(exclude={"name", "cron"}), due_at)


# Every other field of an export request, as the request declares it: a new request field
# is a schedule field too. A password is not: a schedule keeps no secret.
_REQUEST_FIELDS: dict[str, Any] = {
    name: (field.annotation, field)
    for name, field in RequestBase.model_fields.items()
    if name not in _Schedule.model_fields and name != "password"
}
# And the options of the types that have some (a summary's periods), checked against the
# type as the rest are: given to another type, the schedule is refused.
_REQUEST_FIELDS |= {
    name: (Optional[field.annotation], Field(None, description=field.description))  # noqa: UP045
    for report_type in REPORT_TYPES.values()
    if report_type.options is not None
    for name, field in report_type.options.model_fields.items()
}
if TYPE_CHECKING:
    ScheduleCreate = _Schedule
else:
    ScheduleCreate = create_model(
        "ScheduleCreate",
        __base__=_Schedule,
        __doc__="A recurring export: the fields of an export request, a cron and a name.",
        **_REQUEST_FIELDS,
    )


def request_at(document: dict[str, Any], due_at: datetime) -> RequestBase:
    tz = ZoneInfo(document.get("timezone", "UTC"))
    today = due_at.astimezone(tz).date()
    resolved = {**document, "filters": _resolve(document.get("filters", {}), today)}
    return parse_request({k: v for k, v in resolved.items() if v is not None})


def _resolve(value: Any, today: date) -> Any:
    if isinstance(value, dict):
        return {key: _resolve(item, today) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, today) for item in value]
    if isinstance(value, str) and (match := _RELATIVE.match(value)):
        n, unit, edge = int(match[1]), match[2], match[3]
        return relative_day(today, n, unit, edge).isoformat()
    return value


def relative_day(today: date, n: int, unit: str, edge: str) -> date:
    """The first or last day of the day/week/month/quarter/year `n` units from today's."""
    if unit == "day":
        return today + timedelta(days=n)
    if unit == "week":  # weeks start on Monday
        start = today - timedelta(days=today.weekday()) + timedelta(weeks=n)
        return start if edge == "start" else start + timedelta(days=6)
    months = {"month": 1, "quarter": 3, "year": 12}[unit]
    first = (today.year * 12 + today.month - 1) // months * months + n * months
    start = date(first // 12, first % 12 + 1, 1)
    if edge == "start":
        return start
    after = first + months
    return date(after // 12, after % 12 + 1, 1) - timedelta(days=1)


def next_due(cron: str, timezone: str, after: datetime) -> datetime:
    """The first due time strictly after `after`: a wall-clock time in `timezone`. A time
    the clocks skip is due when they jump past it; a time they repeat is due once, the
    second time, unless the cron runs every hour (then each real hour counts)."""
    every_hour = cron.split()[1] == "*"
    times = croniter(cron, after.astimezone(ZoneInfo(timezone)))
    while True:
        due: datetime = times.get_next(datetime)
        if every_hour or not _first_of_a_repeated_time(due):
            return due.astimezone(UTC)


def _first_of_a_repeated_time(local: datetime) -> bool:
    first, second = local.replace(fold=0), local.replace(fold=1)
    return first.utcoffset() != second.utcoffset() and local.utcoffset() == first.utcoffset()


def firing_report_id(schedule_id: str, due_at: datetime) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{schedule_id}@{due_at.astimezone(UTC).isoformat()}"))


@dataclass(frozen=True)
class Firing:
    due_at: datetime
    fired_at: datetime
    outcome: str
    report_id: str | None
    detail: str | None


@dataclass(frozen=True)
class ScheduleRow:
    id: str
    organisation_id: str
    name: str
    cron: str
    timezone: str
    request: dict[str, Any]
    created_by: Requester
    created_at: datetime
    paused: bool
    next_due_at: datetime
    last_firing: Firing | None = None

    @property
    def requester(self) -> Requester:
        """Who a firing's report says requested it."""
        return Requester(f"{SCHEDULE_ACTOR}{self.id}", self.created_by.email, self.name)


class Schedules:
    """The schedules of every organisation, and their firings."""

    def __init__(self, engine: Engine, lifecycle: Lifecycle) -> None:
        self.engine, self.lifecycle = engine, lifecycle

    def create(
        self, organisation_id: str, body: ScheduleCreate, by: Requester, now: datetime | None
    ) -> ScheduleRow:
        now = now or utcnow()
        body.request_at(now)  # raises ValueError now, not at the first firing
        schedule_id = str(uuid.uuid4())
        with self.engine.begin() as conn:
            conn.execute(
                schedules.insert().values(
                    id=schedule_id,
                    organisation_id=organisation_id,
                    name=body.name,
                    cron=body.cron,
                    timezone=body.timezone,
                    request=body.model_dump(exclude={"name", "cron"}, exclude_none=True),
                    created_by_id=by.id,
                    created_by_email=by.email,
                    created_by_name=by.name,
                    created_at=now,
                    next_due_at=next_due(body.cron, body.timezone, now),
                )
            )
        made = self.get(organisation_id, schedule_id)
        assert made is not None
        return made

    def of(self, organisation_id: str) -> list[ScheduleRow]:
        query = schedules.select().where(schedules.c.organisation_id == organisation_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(schedules.c.created_at, schedules.c.id)).all()
            return [self._read(conn, row) for row in rows]

    def get(self, organisation_id: str, schedule_id: str) -> ScheduleRow | None:
        query = schedules.select().where(
            schedules.c.organisation_id == organisation_id, schedules.c.id == schedule_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).one_or_none()
            return self._read(conn, row) if row is not None else None

    def delete(self, organisation_id: str, schedule_id: str) -> bool:
        with self.engine.begin() as conn:
            gone = conn.execute(
                schedules.delete().where(
                    schedules.c.organisation_id == organisation_id, schedules.c.id == schedule_id
                )
            )
        return gone.rowcount == 1

    def set_paused(
        self, organisation_id: str, schedule_id: str, paused: bool, now: datetime | None = None
    ) -> ScheduleRow | None:
        """Pause, or resume from the next due time after now (nothing missed is made up)."""
        found = self.get(organisation_id, schedule_id)
        if found is None:
            return None
        values: dict[str, Any] = {"paused": paused}
        if not paused and found.paused:
            values["next_due_at"] = next_due(found.cron, found.timezone, now or utcnow())
        with self.engine.begin() as conn:
            conn.execute(
                schedules.update()
                .where(schedules.c.id == schedule_id)
                .where(schedules.c.organisation_id == organisation_id)
                .values(values)
            )
        return self.get(organisation_id, schedule_id)

    def due(self, now: datetime) -> list[ScheduleRow]:
        query = schedules.select().where(
            schedules.c.next_due_at <= now, schedules.c.paused == sa.false()
        )
        with self.engine.connect() as conn:
            return [self._read(conn, row) for row in conn.execute(query).all()]

    def fire(self, schedule: ScheduleRow, now: datetime) -> Firing:
        """Request the export of the schedule's latest due time up to `now`, once, record the
        outcome, and move the schedule to its next due time."""
        due_at, missed = schedule.next_due_at, 0
        while (following := next_due(schedule.cron, schedule.timezone, due_at)) <= now:
            due_at, missed = following, missed + 1
        recorded = self._firing(schedule.id, due_at)
        if recorded is None:
            recorded = self._request(schedule, due_at, now, missed)
        with self.engine.begin() as conn:
            conn.execute(
                schedules.update()
                .where(
                    schedules.c.id == schedule.id, schedules.c.next_due_at == schedule.next_due_at
                )
                .values(next_due_at=next_due(schedule.cron, schedule.timezone, now))
            )
        return recorded

    def _request(
        self, schedule: ScheduleRow, due_at: datetime, now: datetime, missed: int
    ) -> Firing:
        report_id = firing_report_id(schedule.id, due_at)
        late = f"; {missed} earlier due times were missed" if missed else ""
        outcome, detail = "requested", f"due {due_at.isoformat()}{late}"
        made: str | None = report_id
        try:
            request = request_at(schedule.request, due_at)
            self.lifecycle.request(
                schedule.organisation_id, request, schedule.requester, now=now, report_id=report_id
            )
        except (ReportInProgress, CompletedRecently, sa.exc.IntegrityError) as refused:
            if not self._report_exists(report_id):  # else: made by an earlier evaluation
                outcome, made = "skipped", None
                detail = f"rate limit: {type(refused).__name__}{late}"
        except ValueError as invalid:  # filters no longer valid (an unknown value, say)
            outcome, detail, made = "skipped", f"invalid request: {invalid}"[:500], None
        firing = Firing(due_at, now, outcome, made, detail)
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(firings.c.schedule_id).where(
                    firings.c.schedule_id == schedule.id, firings.c.due_at == due_at
                )
            ).first()
            if exists is None:
                conn.execute(
                    firings.insert().values(
                        schedule_id=schedule.id,
                        due_at=due_at,
                        fired_at=now,
                        outcome=outcome,
                        report_id=made,
                        detail=detail,
                    )
                )
        return self._firing(schedule.id, due_at) or firing

    def _report_exists(self, report_id: str) -> bool:
        query = sa.select(reports.c.id).where(reports.c.id == report_id)
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def _firing(self, schedule_id: str, due_at: datetime) -> Firing | None:
        query = firings.select().where(
            firings.c.schedule_id == schedule_id, firings.c.due_at == due_at
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).one_or_none()
        return _firing_of(row) if row is not None else None

    def firings_of(self, schedule_id: str) -> list[Firing]:
        query = firings.select().where(firings.c.schedule_id == schedule_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(firings.c.due_at)).all()
        return [_firing_of(row) for row in rows]

    @staticmethod
    def _read(conn: sa.Connection, row: sa.Row[Any]) -> ScheduleRow:
        m = row._mapping
        last = conn.execute(
            firings.select()
            .where(firings.c.schedule_id == m["id"])
            .order_by(firings.c.due_at.desc())
            .limit(1)
        ).one_or_none()
        return ScheduleRow(
            id=m["id"],
            organisation_id=m["organisation_id"],
            name=m["name"],
            cron=m["cron"],
            timezone=m["timezone"],
            request=m["request"],
            created_by=Requester(m["created_by_id"], m["created_by_email"], m["created_by_name"]),
            created_at=m["created_at"],
            paused=bool(m["paused"]),
            next_due_at=m["next_due_at"],
            last_firing=_firing_of(last) if last is not None else None,
        )


def _firing_of(row: sa.Row[Any]) -> Firing:
    m = row._mapping
    return Firing(m["due_at"], m["fired_at"], m["outcome"], m["report_id"], m["detail"])
