"""Liveness and readiness (the job table, the object store and Dagster)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["Health"])


@router.get("/healthz", summary="Liveness: the process answers")
def liveness() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: job table, object store and Dagster answer")
def readiness(request: Request) -> JSONResponse:
    state = request.app.state
    checks: dict[str, Any] = {
        "job_table": state.job_table.ping,
        "object_store": lambda: state.store.client.head_bucket(Bucket=state.store.bucket),
        "dagster": state.launcher.ping,
    }
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as error:  # a readiness probe reports, it never raises
            results[name] = f"unavailable: {type(error).__name__}"
    ready = all(v == "ok" for v in results.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": results},
        status_code=200 if ready else 503,
    )
