"""Recurring exports: create, list, read, pause, resume and delete an organisation's
schedules. The `fire_schedules` sensor turns their due times into reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from fastapi.exceptions import RequestValidationError

from api import errors
from api.auth import ReportsAdmin
from api.deps import SchedulesDep, SettingsDep
from api.routes.reports import BASE, OrganisationId, check_columns, error_responses
from api.schemas import (
    ScheduleListPublic,
    SchedulePublic,
)
from reports_pipeline.job_table import Requester, utcnow
from reports_pipeline.schedules import ScheduleCreate, ScheduleRow

router = APIRouter(
    prefix=f"{BASE}/schedules",
    tags=["Schedules"],
    responses=error_responses("Schedule not found"),
)
ScheduleId = Annotated[str, Path(alias="scheduleId", max_length=64)]


def _found(row: ScheduleRow | None) -> SchedulePublic:
    if row is None:
        raise errors.ScheduleNotFound()
    return SchedulePublic.of(row)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SchedulePublic,
    summary="Create a recurring export",
    description="`cron` (minute hour day month weekday) runs in the schedule's `timezone`; "
    "date bounds in `filters` may be relative to each firing: `-1 month start`, "
    "`-1 month end`, `-7 day start`, `0 week start` (units day, week, month, quarter, year).",
)
def create_schedule(
    principal: ReportsAdmin,
    organisation_id: OrganisationId,
    body: ScheduleCreate,
    schedules: SchedulesDep,
    settings: SettingsDep,
) -> SchedulePublic:
    by = Requester(principal.sub, principal.email, principal.name)
    try:
        check_columns(settings.replica, organisation_id, body.request_at(utcnow()), ("body",))
        made = schedules.create(organisation_id, body, by, None)
    except ValueError as invalid:  # the request it would make is not a valid request
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", "filters"), "msg": str(invalid)[:1000]}]
        ) from None
    return SchedulePublic.of(made)


@router.get("", response_model=ScheduleListPublic, summary="List the recurring exports")
def list_schedules(
    principal: ReportsAdmin, organisation_id: OrganisationId, schedules: SchedulesDep
) -> ScheduleListPublic:
    rows = schedules.of(organisation_id)
    return ScheduleListPublic(items=[SchedulePublic.of(row) for row in rows])


@router.get("/{scheduleId}", response_model=SchedulePublic, summary="One recurring export")
def get_schedule(
    principal: ReportsAdmin,
    organisation_id: OrganisationId,
    schedule_id: ScheduleId,
    schedules: SchedulesDep,
) -> SchedulePublic:
    return _found(schedules.get(organisation_id, schedule_id))


@router.post("/{scheduleId}/pause", response_model=SchedulePublic, summary="Pause a schedule")
def pause_schedule(
    principal: ReportsAdmin,
    organisation_id: OrganisationId,
    schedule_id: ScheduleId,
    schedules: SchedulesDep,
) -> SchedulePublic:
    return _found(schedules.set_paused(organisation_id, schedule_id, True))


@router.post(
    "/{scheduleId}/resume",
    response_model=SchedulePublic,
    summary="Resume a schedule from its next due time (what was missed is not made up)",
)
def resume_schedule(
    principal: ReportsAdmin,
    organisation_id: OrganisationId,
    schedule_id: ScheduleId,
    schedules: SchedulesDep,
) -> SchedulePublic:
    return _found(schedules.set_paused(organisation_id, schedule_id, False))


@router.delete(
    "/{scheduleId}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a schedule (the reports it made stay)",
)
def delete_schedule(
    principal: ReportsAdmin,
    organisation_id: OrganisationId,
    schedule_id: ScheduleId,
    schedules: SchedulesDep,
) -> Response:
    if not schedules.delete(organisation_id, schedule_id):
        raise errors.ScheduleNotFound()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
