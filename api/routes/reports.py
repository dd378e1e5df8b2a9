"""The reports endpoints (docs/api.md, "Endpoints")."""

from __future__ import annotations

import logging
from typing import Annotated, Any, cast

from fastapi import APIRouter, BackgroundTasks, Body, Path, Query, Response, status
from fastapi.exceptions import RequestValidationError

from api import errors
from api.auth import ReportsAdmin
from api.deps import (
    AuditDep,
    JobTableDep,
    LauncherDep,
    LifecycleDep,
    PasswordsDep,
    SettingsDep,
    StoreDep,
)
from api.schemas import (
    COUNT_EXAMPLES,
    PREVIEW_EXAMPLES,
    REQUEST_EXAMPLES,
    AuditEventPublic,
    AuditListPublic,
    AuditVerdictPublic,
    ColumnsPublic,
    ConflictPublic,
    DownloadPublic,
    ErrorPublic,
    Link,
    NotDownloadablePublic,
    PreviewPublic,
    ReportCreate,
    ReportCreated,
    ReportListPublic,
    ReportPublic,
    ReportTypeName,
    RowCountPublic,
    Selection,
    UnauthorizedPublic,
    ValidationErrorPublic,
)
from reports_pipeline import lifecycle as moves
from reports_pipeline.audit import InvalidAuditCursor
from reports_pipeline.catalogue import Catalogue, catalogue
from reports_pipeline.formats import content_type_of
from reports_pipeline.job_table import (
    InvalidCursor,
    JobTable,
    ReportRow,
    Requester,
    Status,
    is_report_id,
)
from reports_pipeline.options import organisation_options
from reports_pipeline.preview import DEFAULT_PERIODS, MAX_PERIODS, preview, previews
from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports import REPORT_TYPES
from reports_pipeline.storage import StoreUnavailable

BASE = "/api/wp-crm/reports/{organisationId}"
CATALOGUE = catalogue()


def error_responses(missing: str) -> dict[int | str, dict[str, Any]]:
    """The errors every route under the organisation's base answers, for the OpenAPI."""
    return {
        401: {"model": UnauthorizedPublic, "description": "Not authenticated / Invalid token"},
        403: {"model": ErrorPublic, "description": "Only Admin or Owner can access reports"},
        404: {"model": ErrorPublic, "description": missing},
        413: {"model": ErrorPublic, "description": "Request body is too large (over 64 KiB)"},
        422: {"model": ValidationErrorPublic, "description": "Invalid request: field errors"},
    }


log = logging.getLogger(__name__)
router = APIRouter(
    prefix=BASE,
    tags=["Reports"],
    responses=error_responses("Report not found"),
)

OrganisationId = Annotated[str, Path(alias="organisationId", max_length=64)]

ReportId = Annotated[str, Path(alias="reportId", max_length=64)]


def _report_or_404(job_table: JobTable, organisation_id: str, report_id: str) -> ReportRow:
    report = job_table.get(organisation_id, report_id) if is_report_id(report_id) else None
    if report is None:
        raise errors.ReportNotFound()
    return report


def _invalid_cursor(error: ValueError) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", "cursor"), "msg": str(error)}]
    )


def check_columns(
    replica: Any, organisation_id: str, request: Any, at: tuple[str, ...] | None = None
) -> None:
    """422 for each chosen column the organisation's header of the type does not have,
    located `at` (a request's body is located by its type, as for its other fields)."""
    if not request.columns:
        return
    report_type = REPORT_TYPES[request.type]
    with ReplicaReader(replica, organisation_id) as reader:
        unknown = report_type.unknown_columns(reader, request)
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": (*(at or ("body", request.type)), "columns", i),
                    "msg": f"not a column of the {report_type.label} export: '{name}'",
                }
                for i, name in unknown
            ]
        )


def _href(organisation_id: str, report_id: str) -> str:
    return f"/api/wp-crm/reports/{organisation_id}/{report_id}"


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReportCreated,
    summary="Request an export",
    responses={
        202: {
            "headers": {
                "Location": {
                    "description": "The new export's URL",
                    "schema": {"type": "string"},
                }
            }
        },
        409: {
            "model": ConflictPublic,
            "description": "Rate limited: one export of a type per organisation at a time, and "
            "none within 5 minutes of the last completed one (see `code`).",
            "headers": {
                "Retry-After": {
                    "description": "Seconds until a new request can pass "
                    "(`report_completed_recently` only)",
                    "schema": {"type": "integer"},
                }
            },
        },
    },
)
def request_export(
    principal: ReportsAdmin,
    organisation_id: OrganisationId,
    body: Annotated[ReportCreate, Body(openapi_examples=REQUEST_EXAMPLES)],
    response: Response,
    background: BackgroundTasks,
    lifecycle: LifecycleDep,
    launcher: LauncherDep,
    passwords: PasswordsDep,
    settings: SettingsDep,
) -> ReportCreated:
    check_columns(settings.replica, organisation_id, body)
    requester = Requester(principal.sub, principal.email, principal.name)
    sealed = passwords.seal(body.password.get_secret_value()) if body.password else None
    try:
        report = lifecycle.request(organisation_id, body, requester, sealed_password=sealed)
    except moves.ReportInProgress as busy:
        raise errors.ReportInProgress(existing_report_id=busy.existing_id) from None
    except moves.CompletedRecently as recent:
        raise errors.ReportCompletedRecently(
            existing_report_id=recent.existing_id,
            headers={"Retry-After": str(recent.retry_after_s)},
        ) from None
    # Launch after answering: the request is recorded, and the reconciler launches it if
    # this launch cannot reach Dagster (or the API stops before it runs).
    background.add_task(launcher.launch, report)
    href = _href(organisation_id, report.id)
    response.headers["Location"] = href
    return ReportCreated(
        id=report.id,
        type=report.type,
        status=report.status,
        created_at=report.created_at,
        link=Link(href=href),
    )


@router.get("", response_model=ReportListPublic, summary="List exports, newest first")
def list_exports(
    principal: ReportsAdmin,
    organisation_id: OrganisationId,
    job_table: JobTableDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    type: Annotated[ReportTypeName | None, Query()] = None,
    status: Annotated[Status | None, Query()] = None,
) -> ReportListPublic:
    try:
        rows, next_cursor = job_table.page(
            organisation_id,
            limit=limit,
            cursor=cursor,
            report_type=type,
            status=status.value if status else None,
        )
    except InvalidCursor as error:
        raise _invalid_cursor(error) from None
    return ReportListPublic(items=[ReportPublic.of(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/types",
    summary="The report types, file formats and filter vocabulary on offer",
    description="Each report type with its label, description, the date filter a span "
    "such as 'last month' sets, and its filters as people read them (title, group, kind, "
    "fixed values or the `…/options` list they pick from); each file format; the "
    "operators of custom-field conditions. The admin page is built from this answer.",
)
def offered_types(principal: ReportsAdmin, organisation_id: OrganisationId) -> Catalogue:
    return CATALOGUE


@router.get(
    "/options",
    summary="The organisation's values the filters pick from",
    description="Ids and names for every `x-options` source named in the filter schemas "
    "(team members, channels, labels, ticket statuses, goals, trackers, custom fields...).",
)
def filter_options(
    principal: ReportsAdmin, organisation_id: OrganisationId, settings: SettingsDep
) -> dict[str, list[dict[str, Any]]]:
    with ReplicaReader(settings.replica, organisation_id) as reader:
        return organisation_options(reader)


@router.post(
    "/count",
    response_model=RowCountPublic,
    summary="Count the rows an export would hold",
    description="The same `type`, `timezone` and `filters` as a request, counted in the "
    "replica without starting an export: exact where every active filter can be decided "
    "there, an upper bound otherwise. Cheap enough to call as filters change.",
)
def count_rows(
    principal: ReportsAdmin,
    organisation_id: OrganisationId,
    body: Annotated[Selection, Body(openapi_examples=COUNT_EXAMPLES)],
    settings: SettingsDep,
) -> RowCountPublic:
    with ReplicaReader(settings.replica, organisation_id) as reader:
        matching = REPORT_TYPES[body.type].matching(reader, body.filters, body.timezone)
        rows = matching.count() if matching else None
    exact = bool(matching and matching.exact)
    return RowCountPublic(type=cast(ReportTypeName, body.type), rows=rows, exact=exact)


@router.post(
    "/columns",
    response_model=ColumnsPublic,
    summary="The columns an export's file would have",
    description="The same `type`, `timezone`, `filters` and options as a request: the file's "
    "header for this organisation (custom fields and trackers included), the names "
    "`columns` chooses from.",
)
def list_columns(
    principal: ReportsAdmin,
    organisation_id: OrganisationId,
    body: Annotated[Selection, Body(openapi_examples=PREVIEW_EXAMPLES | COUNT_EXAMPLES)],
    settings: SettingsDep,
) -> ColumnsPublic:
    with ReplicaReader(settings.replica, organisation_id) as reader:
        header = REPORT_TYPES[body.type].header(reader, body)
    return ColumnsPublic(type=cast(ReportTypeName, body.type), columns=header)


@router.post(
    "/preview",
    response_model=PreviewPublic,
    summary="Preview a summary's first periods",
    description="The same `type`, `timezone`, `filters` and options as a summary's request, "
    "computed now for its first `periods` periods (and at most a quarter of its range): "
    "each row exactly as the file would hold it. For `chat_summary` and `agent_summary`.",
)
def preview_summary(
    principal: ReportsAdmin,
    organisation_id: OrganisationId,
    body: Annotated[Selection, Body(openapi_examples=PREVIEW_EXAMPLES)],
    settings: SettingsDep,
    periods: Annotated[
        int, Query(ge=1, le=MAX_PERIODS, description="How many periods at most")
    ] = DEFAULT_PERIODS,
) -> PreviewPublic:
    if not previews(REPORT_TYPES[body.type]):
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", "type"), "msg": "a preview is for summaries"}]
        )
    with ReplicaReader(settings.replica, organisation_id) as reader:
        shown = preview(reader, body, periods)
    return PreviewPublic.model_validate(
        {
            "type": body.type,
            "columns": shown.columns,
            "keys": shown.keys,
            "measures": shown.measures,
            "rows": shown.rows,
            "from": shown.start,
            "to": shown.end,
            "complete": shown.complete,
        }
    )


@router.get(
    "/audit",
    response_model=AuditListPublic,
    summary="The audit trail: who exported what, when and why",
    description="One event per request, start, completion, failure, cancel and download-link "
    "issue, newest first, each with the actor, the report and its request (filters, "
    "timezone, format, purpose). Append-only: nothing in the API edits or removes an event. "
    "`report_id` narrows it to one report's history.",
)
def list_audit_events(
    principal: ReportsAdmin,
    organisation_id: OrganisationId,
    audit: AuditDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    report_id: Annotated[str | None, Query(max_length=64)] = None,
) -> AuditListPublic:
    if report_id is not None and not is_report_id(report_id):
        return AuditListPublic(items=[], next_cursor=None)  # names no report: no events
    try:
        rows, next_cursor = audit.page(
            organisation_id, limit=limit, cursor=cursor, report_id=report_id
        )
    except InvalidAuditCursor as error:
        raise _invalid_cursor(error) from None
    return AuditListPublic(items=[AuditEventPublic.of(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/audit/verify",
    response_model=AuditVerdictPublic,
    summary="Check that the audit trail is as it was recorded",
    description="Recomputes the organisation's hash chain from its first event: `intact` "
    "when no event was edited or removed, else `broken_at` names the first event that no "
    "longer holds (removing the newest events shows as a `reason` with no `broken_at`).",
)
def verify_audit_trail(
    principal: ReportsAdmin, organisation_id: OrganisationId, audit: AuditDep
) -> AuditVerdictPublic:
    return AuditVerdictPublic.of(audit.verify(organisation_id))


@router.get("/{reportId}", response_model=ReportPublic, summary="One export")
def get_export(
    principal: ReportsAdmin,
    organisation_id: OrganisationId,
    report_id: ReportId,
    job_table: JobTableDep,
) -> ReportPublic:
    return ReportPublic.of(_report_or_404(job_table, organisation_id, report_id))


@router.get(
    "/{reportId}/download",
    response_model=DownloadPublic,
    summary="A presigned link to the finished file, valid for one hour",
    responses={
        409: {"model": NotDownloadablePublic, "description": "Still being generated, or failed"},
        410: {"model": ErrorPublic, "description": "Report file not available"},
        503: {"model": ErrorPublic, "description": "Failed to generate download URL"},
    },
)
def download_export(
    principal: ReportsAdmin,
    organisation_id: OrganisationId,
    report_id: ReportId,
    job_table: JobTableDep,
    store: StoreDep,
    audit: AuditDep,
) -> DownloadPublic:
    report = _report_or_404(job_table, organisation_id, report_id)
    if report.status in (Status.PENDING, Status.PROCESSING):
        raise errors.ReportNotReady()
    if report.status == Status.FAILED:
        raise errors.ReportFailed(error=report.error)
    if report.status == Status.CANCELED:  # it never had a file
        raise errors.ReportFileGone()
    stored = report.stored_object
    if stored is None or not report.file_name:
        raise errors.ReportFileGone()
    try:
        changed = store.mismatch(stored)
        if changed is not None:
            log.warning("report %s: download refused, its file changed: %s", report.id, changed)
            raise errors.ReportFileGone()
        link = store.presign_download(
            stored.key,
            report.file_name,
            content_type=content_type_of(
                report.format, protected_file=report.password_protected, sheets=report.sheets
            ),
        )
    except StoreUnavailable:
        raise errors.DownloadUnavailable() from None
    audit.download_link_issued(report.id, Requester(principal.sub, principal.email, principal.name))
    return DownloadPublic(url=link.url, expires_at=link.expires_at, file_name=report.file_name)


@router.post(
    "/{reportId}/cancel",
    response_model=ReportPublic,
    summary="Cancel a pending or processing export",
    description="Stops the export: its run is terminated, any partial file is removed, and "
    "the report becomes `canceled` (with `canceled_at` and `canceled_by`). A canceled export "
    "does not block a new request of its type.",
    responses={409: {"model": ErrorPublic, "description": "Report has already finished"}},
)
def cancel_export(
    principal: ReportsAdmin,
    organisation_id: OrganisationId,
    report_id: ReportId,
    job_table: JobTableDep,
    lifecycle: LifecycleDep,
    launcher: LauncherDep,
    background: BackgroundTasks,
) -> ReportPublic:
    _report_or_404(job_table, organisation_id, report_id)
    by = Requester(principal.sub, principal.email, principal.name)
    if not lifecycle.cancel(organisation_id, report_id, by):
        raise errors.ReportAlreadyFinished()
    report = _report_or_404(job_table, organisation_id, report_id)
    if report.dagster_run_id:  # a pending report's queued run is the reconciler's to stop
        background.add_task(launcher.terminate, report.dagster_run_id)
    return ReportPublic.of(report)
