"""Latency: request -> completed for small exports through the whole local stack.

    python -m bench.latency_bench [--exports 20] [--postgres URL]

Starts the stack as `make up` does (S3 server, Dagster webserver and daemon, API) on free
ports over a small generated replica, then requests small exports one after another (each
a different organisation and type, so no rate limit applies) and polls each report every
50 ms until it finishes. Prints p50 / p90 / max of the time from POST to `completed`.
Every loop is bounded in count and time and talks only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import jwt

from devstack import Ports, Stack
from reports_pipeline.reports import REPORT_TYPES
from warehouse.generate import ReplicaSpec, generate

SECRET = "latency-bench-secret-that-is-long-enough"  # noqa: S105 - a local test key
TYPES = list(REPORT_TYPES)
POLL_S = 0.05
DEADLINE_S = 120


def token(org: str) -> str:
    claims = {"sub": "bench", "org_id": org, "role": "admin", "exp": int(time.time()) + 3600}
    return jwt.encode(claims, SECRET, "HS256")


def one_export(api: str, org: str, report_type: str) -> float:
    headers = {"Authorization": f"Bearer {token(org)}"}
    base = f"{api}/api/wp-crm/reports/{org}"
    started = time.perf_counter()
    answer = httpx.post(base, json={"type": report_type}, headers=headers)
    answer.raise_for_status()
    report_id = answer.json()["id"]
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        report = httpx.get(f"{base}/{report_id}", headers=headers).json()
        if report["status"] == "completed":
            return time.perf_counter() - started
        if report["status"] not in ("pending", "processing"):
            raise RuntimeError(f"report {report_id} ended {report['status']}: {report['error']}")
        time.sleep(POLL_S)
    raise TimeoutError(f"report {report_id} did not finish in {DEADLINE_S}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--exports", type=int, default=20)
    parser.add_argument("--postgres", help="job table URL (default: SQLite in the stack home)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="latency-bench-") as tmp:
        home = Path(tmp)
        orgs = -(-(args.exports + 1) // len(TYPES))  # one more pair for the warm-up
        generate(home / "replica", ReplicaSpec(orgs=orgs, chats_per_org=2_000, seed=3))
        stack = Stack(
            home=home,
            replica=home / "replica",
            ports=Ports.free(),
            database_url=args.postgres,
            extra_env={"REPORTS_ENV": "test", "REPORTS_JWT_SECRET": SECRET},
        )
        try:
            stack.start()
            pairs = itertools.product([f"org_{i + 1:03d}" for i in range(orgs)], TYPES)
            one_export(stack.api_url, "org_001", "ticket")  # warm-up: first run loads code
            seconds = [
                one_export(stack.api_url, org, kind)
                for org, kind in itertools.islice(pairs, 1, args.exports + 1)
            ]
        finally:
            stack.stop()
    seconds.sort()
    p90 = seconds[min(len(seconds) - 1, int(len(seconds) * 0.9))]
    print(
        f"{len(seconds)} exports, request -> completed: p50 {statistics.median(seconds):.2f} s, "
        f"p90 {p90:.2f} s, max {seconds[-1]:.2f} s"
    )


if __name__ == "__main__":
    main()
