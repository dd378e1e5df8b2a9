"""The admin page at /crm/reports: static files served by this service, no build step."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}

# The page runs only its own files: no inline script, no framing, no sniffed types.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/crm/reports")


@router.get("/crm/reports")
def reports_page() -> FileResponse:
    return FileResponse(
        STATIC / "reports.html",
        media_type=_TYPES[".html"],
        headers={**PAGE_HEADERS, "Cache-Control": "no-store"},
    )


@router.get("/crm/reports/static/{name}")
def reports_asset(name: str) -> FileResponse:
    path = STATIC / name
    if path.suffix not in _TYPES or path.parent != STATIC or not path.is_file():
        from api.errors import ReportNotFound  # the page has no other files to offer

        raise ReportNotFound()
    return FileResponse(path, media_type=_TYPES[path.suffix], headers=PAGE_HEADERS)
