"""Liveness and readiness (the job table, the object store and Dagster)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["Health"])


def _outcome(check: Callable[[], object]) -> str:
    try:
        check()
    except Exception as error:  # a readiness probe reports, it never raises
        return f"unavailable: {type(error).__name__}"
    return "ok"


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
    # All at once: the answer takes as long as the slowest part, each bounded by its timeout.
    with ThreadPoolExecutor(len(checks)) as pool:
        results = dict(zip(checks, pool.map(_outcome, checks.values()), strict=True))
    ready = all(v == "ok" for v in results.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": results},
        status_code=200 if ready else 503,
    )
