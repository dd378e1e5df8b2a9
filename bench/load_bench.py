"""Load: 200 concurrent clients polling list and status while 20 exports run.

    python -m bench.load_bench [--clients 200] [--exports 20] [--postgres URL]

Starts the whole local stack (S3 server, Dagster webserver and daemon, API) on free ports
over a generated replica, requests 20 exports (4 organisations x 5 types), and lets 200
asyncio clients poll `GET list` and `GET status` until every export has finished. Then it
downloads each file and checks its line count against the report's `row_count`. Every
request loop is bounded in count and time and talks only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from devstack import Ports, Stack
from warehouse.generate import ReplicaSpec, generate

SECRET = "load-bench-secret-that-is-long-enough"  # noqa: S105 - a local test key
TYPES = ["chat", "contact", "ticket", "call_log", "goal"]
DEADLINE_S = 600
MAX_REQUESTS_PER_CLIENT = 5_000


def token(org: str) -> str:
    import jwt

    return jwt.encode(
        {"sub": "load", "org_id": org, "role": "admin", "exp": int(time.time()) + 3600},
        SECRET,
        "HS256",
    )


async def poller(
    client: httpx.AsyncClient,
    api: str,
    reports: list[tuple[str, str]],
    done: asyncio.Event,
    samples: dict[str, list[float]],
    errors: list[str],
    interval_s: float,
) -> None:
    rng = random.Random()  # noqa: S311 - choosing what to poll, not security
    for _ in range(MAX_REQUESTS_PER_CLIENT):
        if done.is_set():
            return
        org, report_id = rng.choice(reports)
        kind = rng.choice(["list", "status"])
        url = (
            f"{api}/api/wp-crm/reports/{org}?limit=20"
            if kind == "list"
            else f"{api}/api/wp-crm/reports/{org}/{report_id}"
        )
        started = time.perf_counter()
        try:
            answer = await client.get(url, headers={"Authorization": f"Bearer {token(org)}"})
            if answer.status_code != 200:
                errors.append(f"{answer.status_code} {answer.text[:80]}")
        except httpx.HTTPError as error:
            errors.append(type(error).__name__)
        samples[kind].append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(interval_s)


async def watch(
    client: httpx.AsyncClient, api: str, reports: list[tuple[str, str]], done: asyncio.Event
) -> dict[str, dict]:
    deadline = time.monotonic() + DEADLINE_S
    finished: dict[str, dict] = {}
    while time.monotonic() < deadline and len(finished) < len(reports):
        for org, report_id in reports:
            if report_id in finished:
                continue
            answer = await client.get(
                f"{api}/api/wp-crm/reports/{org}/{report_id}",
                headers={"Authorization": f"Bearer {token(org)}"},
            )
            report = answer.json()
            if report["status"] in ("completed", "failed"):
                finished[report_id] = report
        await asyncio.sleep(1)
    done.set()
    return finished


async def run(stack: Stack, clients: int, exports: int, interval_s: float) -> None:
    api = stack.api_url
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        reports = []
        for i in range(exports):
            org, kind = f"org_{i // len(TYPES) + 1:03d}", TYPES[i % len(TYPES)]
            answer = await client.post(
                f"{api}/api/wp-crm/reports/{org}",
                json={"type": kind},
                headers={"Authorization": f"Bearer {token(org)}"},
            )
            assert answer.status_code == 202, answer.text
            reports.append((org, answer.json()["id"]))
        samples: dict[str, list[float]] = {"list": [], "status": []}
        errors: list[str] = []
        done = asyncio.Event()
        started = time.monotonic()
        tasks = [
            poller(client, api, reports, done, samples, errors, interval_s) for _ in range(clients)
        ]
        finished, *_ = await asyncio.gather(watch(client, api, reports, done), *tasks)
        elapsed = time.monotonic() - started
        correct = 0
        for org, report_id in reports:
            report = finished.get(report_id)
            if not report or report["status"] != "completed":
                continue
            link = (
                await client.get(
                    f"{api}/api/wp-crm/reports/{org}/{report_id}/download",
                    headers={"Authorization": f"Bearer {token(org)}"},
                )
            ).json()
            body = (await client.get(link["url"])).content
            # Rows may hold quoted newlines: count records with the csv module.
            import csv
            import io

            rows = sum(1 for _ in csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
            correct += rows - 1 == report["row_count"]
    total = sum(len(v) for v in samples.values())
    print(
        "| clients | poll interval | exports | completed correctly | all done in | requests "
        "| throughput |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {clients} | {interval_s:g} s | {exports} | {correct}/{exports} | {elapsed:.0f} s "
        f"| {total:,} | {total / elapsed:,.0f} req/s |"
    )
    print()
    print("| request | p50 ms | p99 ms |")
    print("|---|---:|---:|")
    for kind, values in samples.items():
        cuts = statistics.quantiles(values, n=100)
        print(f"| GET {kind} | {statistics.median(values):.0f} | {cuts[98]:.0f} |")
    print(f"\nerrors: {len(errors)} {sorted(set(errors))[:5]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--exports", type=int, default=20)
    parser.add_argument("--chats-per-org", type=int, default=5_000)
    parser.add_argument(
        "--interval",
        type=float,
        default=1.0,
        help="seconds each client waits between polls (the page waits 3)",
    )
    parser.add_argument("--postgres", help="job table on this PostgreSQL URL instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        replica = home / "replica"
        orgs = max(1, -(-args.exports // len(TYPES)))
        generate(replica, ReplicaSpec(orgs=orgs, chats_per_org=args.chats_per_org, seed=5))
        stack = Stack(
            home=home,
            replica=replica,
            ports=Ports.free(),
            database_url=args.postgres,
            extra_env={"REPORTS_ENV": "test", "REPORTS_JWT_SECRET": SECRET},
        )
        try:
            stack.start()
            asyncio.run(run(stack, args.clients, args.exports, args.interval))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
