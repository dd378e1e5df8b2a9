"""Domain errors carry the exact text of docs/api.md; one set of handlers maps them to HTTP."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("api")


class ApiError(Exception):
    status_code = 500
    code = "internal_error"
    detail = "Internal server error"

    def __init__(self, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(self.detail)
        self.headers = headers
        self.extra = extra


class NotAuthenticated(ApiError):
    status_code, code, detail = 401, "not_authenticated", "Not authenticated"


class InvalidToken(ApiError):
    status_code, code, detail = 401, "invalid_token", "Invalid token"


class ReportsForbidden(ApiError):
    status_code, code, detail = 403, "forbidden", "Only Admin or Owner can access reports"


class ReportNotFound(ApiError):
    status_code, code, detail = 404, "report_not_found", "Report not found"


class ReportInProgress(ApiError):
    status_code, code = 409, "report_in_progress"
    detail = "A report of this type is already being generated"


class ReportCompletedRecently(ApiError):
    status_code, code = 409, "report_completed_recently"
    detail = "A report was completed recently. Please wait before requesting another."


class ReportNotReady(ApiError):
    status_code, code, detail = (
        409,
        "report_not_ready",
        "Report is still being generated. Please wait.",
    )


class ReportFailed(ApiError):
    status_code, code, detail = 409, "report_failed", "Report generation failed"


class ReportAlreadyFinished(ApiError):
    status_code, code, detail = 409, "report_already_finished", "Report has already finished"


class ReportFileGone(ApiError):
    status_code, code, detail = 410, "report_file_gone", "Report file not available"


class DownloadUnavailable(ApiError):
    status_code, code, detail = 503, "download_unavailable", "Failed to generate download URL"


class PayloadTooLarge(ApiError):
    status_code, code, detail = 413, "payload_too_large", "Request body is too large"


def error_body(code: str, detail: Any, **extra: Any) -> dict[str, Any]:
    return {"detail": detail, "code": code, **extra}


def _plain(message: str) -> str:
    """Pydantic prefixes our validators' messages with "Value error, ": the user reads ours."""
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _domain(_: Request, error: ApiError) -> JSONResponse:
        headers = dict(error.headers or {})
        if error.status_code == 401:
            headers.setdefault("WWW-Authenticate", "Bearer")
        return JSONResponse(
            error_body(error.code, error.detail, **error.extra),
            status_code=error.status_code,
            headers=headers or None,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"type": e["type"], "loc": e["loc"], "msg": _plain(e["msg"])} for e in error.errors()
        ]
        return JSONResponse(
            error_body("validation_error", jsonable_encoder(errors)), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400:
            # FastAPI's answer to a JSON body it cannot even decode (bytes that are not
            # UTF-8, NULs): an invalid body, which the contract answers with 422.
            unreadable = {"type": "json_invalid", "loc": ["body"], "msg": "Body is not JSON"}
            return JSONResponse(error_body("validation_error", [unreadable]), status_code=422)
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return JSONResponse(
            error_body(code, error.detail), status_code=error.status_code, headers=error.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        log.error(
            "unexpected error on %s %s [request %s]",
            request.method,
            request.url.path,
            request_id,
            exc_info=error,
        )
        return JSONResponse(
            error_body("internal_error", "Internal server error", request_id=request_id),
            status_code=500,
        )


class ScheduleNotFound(ApiError):
    status_code, code, detail = 404, "schedule_not_found", "Schedule not found"


class WebhookNotFound(ApiError):
    status_code, code, detail = 404, "webhook_not_found", "Webhook not found"
