"""API latency with 100k jobs in the table, over HTTP against a real uvicorn process.

    python -m bench.api_bench [--jobs 100000] [--requests 500] [--postgres URL]

For each back end (SQLite, and PostgreSQL when a URL is given) it fills the job table,
starts the API, and times, one request after another on a kept-alive connection:
`GET /healthz` (the framework's floor, the baseline), `POST` a new export, `GET` the
list (newest 20 of an organisation holding thousands) and `GET` one report.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from devstack import Ports, Stack
from reports_pipeline.job_table import make_engine, migrate, reports, utcnow

SECRET = "bench-secret-that-is-long-enough-for-hs256"  # noqa: S105 - a local test key
TYPES = ["chat", "contact", "ticket", "call_log", "goal"]


def fill(url: str, jobs: int) -> str:
    """Insert `jobs` finished reports over 50 organisations; return the busiest one."""
    engine = make_engine(url)
    migrate(engine)
    now = utcnow()
    rows: list[dict[str, object]] = []
    for i in range(jobs):
        created = now - timedelta(minutes=10 + i)
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "organisation_id": f"org_{i % 50:03d}",
                "type": TYPES[i % 5],
                "status": "completed" if i % 7 else "failed",
                "filters": {},
                "timezone": "UTC",
                "requested_by_id": "bench",
                "created_at": created,
                "started_at": created,
                "completed_at": created + timedelta(seconds=30),
                "rows_written": 1000,
                "row_count": 1000,
                "file_size_bytes": 50_000,
                "file_name": "x.csv",
                "object_key": "k",
            }
        )
    with engine.begin() as conn:
        conn.execute(sa.delete(reports))
        for start in range(0, len(rows), 5_000):
            conn.execute(reports.insert(), rows[start : start + 5_000])
    engine.dispose()
    return "org_000"


def timed(client: httpx.Client, method: str, path: str, n: int, body=None, token="") -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for i in range(n):
        bearer = token(i) if callable(token) else token
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        started = time.perf_counter()
        answer = client.request(method, path.format(i=i), json=body, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert answer.status_code < 300, answer.text
    return samples


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return statistics.median(samples), cuts[98]


def run(backend: str, url: str, jobs: int, n: int, work: Path) -> list[str]:
    import jwt

    from api.tokens import mint

    busiest = fill(url, jobs)
    stack = Stack(
        home=work,
        replica=work,
        ports=Ports.free(),
        database_url=url,
        extra_env={
            "REPORTS_ENV": "test",
            "REPORTS_JWT_SECRET": SECRET,
            "REPORTS_DAGSTER_URL": "http://127.0.0.1:9",
        },
    )
    stack.start_api()
    try:
        admin = mint(org_id=busiest, role="admin", secret=SECRET)

        def fresh_org(i: int) -> str:  # each POST in an organisation of its own
            return jwt.encode(
                {
                    "sub": "b",
                    "org_id": f"bench_{i}",
                    "role": "admin",
                    "exp": int(time.time()) + 3600,
                },
                SECRET,
                "HS256",
            )

        base = f"{stack.api_url}/api/wp-crm/reports"
        with httpx.Client(timeout=30) as client:
            one = client.get(
                f"{base}/{busiest}?limit=1", headers={"Authorization": f"Bearer {admin}"}
            ).json()["items"][0]
            results = {
                "GET /healthz (floor)": timed(client, "GET", f"{stack.api_url}/healthz", n),
                "POST export": timed(
                    client, "POST", base + "/bench_{i}", n, body={"type": "ticket"}, token=fresh_org
                ),
                "GET list (20)": timed(client, "GET", f"{base}/{busiest}?limit=20", n, token=admin),
                "GET one": timed(client, "GET", f"{base}/{busiest}/{one['id']}", n, token=admin),
            }
    finally:
        stack.stop()
    lines = []
    for name, samples in results.items():
        p50, p99 = percentiles(samples)
        lines.append(f"| {backend} | {name} | {p50:.1f} | {p99:.1f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--postgres", help="also run on this PostgreSQL database URL")
    args = parser.parse_args()
    print(f"| job table ({args.jobs:,} jobs) | request | p50 ms | p99 ms |")
    print("|---|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for line in run("SQLite", f"sqlite:///{work / 'jobs.db'}", args.jobs, args.requests, work):
            print(line, flush=True)
        if args.postgres:
            for line in run("PostgreSQL", args.postgres, args.jobs, args.requests, work):
                print(line, flush=True)


if __name__ == "__main__":
    main()
