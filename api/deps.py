"""Dependencies that read like types: the job table, the lifecycle, the audit trail, the store,
the launcher, the schedules and the webhooks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.config import ApiSettings
from api.launcher import DagsterLauncher
from reports_pipeline.audit import AuditTrail
from reports_pipeline.job_table import JobTable
from reports_pipeline.lifecycle import Lifecycle
from reports_pipeline.protection import PasswordBox
from reports_pipeline.schedules import Schedules
from reports_pipeline.storage import ReportStore
from reports_pipeline.webhooks import Webhooks


async def get_job_table(request: Request) -> JobTable:
    return request.app.state.job_table


async def get_lifecycle(request: Request) -> Lifecycle:
    return request.app.state.lifecycle


async def get_audit(request: Request) -> AuditTrail:
    return request.app.state.audit


async def get_passwords(request: Request) -> PasswordBox:
    return request.app.state.passwords


async def get_store(request: Request) -> ReportStore:
    return request.app.state.store


async def get_api_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


async def get_launcher(request: Request) -> DagsterLauncher:
    return request.app.state.launcher


async def get_schedules(request: Request) -> Schedules:
    return request.app.state.schedules


async def get_webhooks(request: Request) -> Webhooks:
    return request.app.state.webhooks


JobTableDep = Annotated[JobTable, Depends(get_job_table)]
LifecycleDep = Annotated[Lifecycle, Depends(get_lifecycle)]
AuditDep = Annotated[AuditTrail, Depends(get_audit)]
PasswordsDep = Annotated[PasswordBox, Depends(get_passwords)]
StoreDep = Annotated[ReportStore, Depends(get_store)]
LauncherDep = Annotated[DagsterLauncher, Depends(get_launcher)]
SettingsDep = Annotated[ApiSettings, Depends(get_api_settings)]
SchedulesDep = Annotated[Schedules, Depends(get_schedules)]
WebhooksDep = Annotated[Webhooks, Depends(get_webhooks)]
