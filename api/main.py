"""The FastAPI application: `uvicorn api.main:app`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.config import ApiSettings, get_settings
from api.errors import install_error_handlers
from api.launcher import DagsterLauncher
from api.limits import BodySizeLimit
from api.routes import docs, health, page, reports, schedules, webhooks
from reports_pipeline.audit import AuditTrail
from reports_pipeline.formats import FORMATS
from reports_pipeline.job_table import JobTable, make_engine, migrate_for
from reports_pipeline.lifecycle import Lifecycle
from reports_pipeline.protection import PasswordBox
from reports_pipeline.reports import REPORT_TYPES
from reports_pipeline.schedules import Schedules
from reports_pipeline.storage import ReportStore, make_s3_client
from reports_pipeline.webhooks import Webhooks


def _listed(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1]


DESCRIPTION = f"""
On-demand exports ({", ".join(f.label for f in FORMATS.values())}) of the CRM's
{_listed([t.label for t in REPORT_TYPES.values()])} data.
Request an export, poll it, then fetch a one-hour download link; cancel it while it runs.
The audit trail records who exported what, when and why.
Every call needs `Authorization: Bearer <JWT>` with `sub`, `org_id`, `role` and `exp`.
"""


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        migrate_for(settings.database_url, settings.database_owner_url)
        engine = make_engine(settings.database_url)
        app.state.job_table = JobTable(engine)
        app.state.lifecycle = Lifecycle(engine)
        app.state.audit = AuditTrail(engine)
        app.state.passwords = PasswordBox(settings.file_password_key)
        app.state.schedules = Schedules(engine, app.state.lifecycle)
        local = settings.env != "production"
        app.state.webhooks = Webhooks(engine, app.state.passwords, local=local)
        app.state.store = ReportStore(
            make_s3_client(
                endpoint_url=settings.s3_endpoint_url,
                region=settings.s3_region,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=settings.s3_secret_access_key,
                attempts=1,
                timeout_s=settings.store_timeout_s,
            ),
            settings.s3_bucket,
        )
        app.state.launcher = DagsterLauncher(settings.dagster_url)
        app.state.settings = settings
        yield
        engine.dispose()

    app = FastAPI(
        title="CRM Reports API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "Reports", "description": "Request, follow and download exports"},
            {"name": "Schedules", "description": "Recurring exports"},
            {"name": "Webhooks", "description": "Signed notices of finished exports"},
        ],
        docs_url=None,  # served by api/routes/docs.py with local assets
        redoc_url=None,
        # Generated clients name their methods after the handlers: request_export, ...
        generate_unique_id_function=lambda route: route.name,
    )

    async def current_settings() -> ApiSettings:  # async: no thread-pool hop per request
        return settings

    app.dependency_overrides[get_settings] = current_settings
    install_error_handlers(app)
    app.include_router(schedules.router)  # before reports: `/{reportId}` would take these
    app.include_router(webhooks.router)
    app.include_router(reports.router)
    app.include_router(page.router)
    app.include_router(health.router)
    app.include_router(docs.router)
    app.mount(docs.ASSETS_URL, docs.assets, name="docs-assets")
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app


logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
app = create_app()
