"""A year of one organisation by day, as each summary, beside the floor under them: the
same year's chats counted per day by one DuckDB query over the replica. Also the page's
preview of that summary (its first 31 days). Each measure runs in a fresh process, for its
own peak RSS; the summaries are built in it (no file: a few hundred rows).

    python -m bench.summary_bench .local/bench/replica-1000000 [.local/bench/replica-5000000 ...]
    python -m bench.summary_bench --one chat_summary .local/bench/replica-1000000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from reports_pipeline.preview import preview
from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports import REPORT_TYPES
from reports_pipeline.request import parse_request

FIRST = date(2025, 12, 6)  # the generated replicas' last year runs to 2026-12-05
MEASURES = ["floor", "chat_summary", "agent_summary", "preview"]


def year_request(kind: str) -> object:
    last = FIRST.replace(year=FIRST.year + 1) - timedelta(days=1)
    span = {"from": FIRST.isoformat(), "to": last.isoformat()}
    field = REPORT_TYPES[kind].date_filter
    return parse_request(
        {"type": kind, "timezone": "UTC", "distribution": "day", "filters": {field: span}}
    )


def summary(kind: str) -> Callable[[ReplicaReader], int]:
    def run(reader: ReplicaReader) -> int:
        export = REPORT_TYPES[kind].export(reader, year_request(kind), 50_000)
        return sum(batch.height for batch in export.batches)

    return run


def floor(reader: ReplicaReader) -> int:
    days = reader.query(
        "chats",
        "SELECT strftime(created_at, '%Y-%m-%d') AS day, count(*) FROM chats "
        "WHERE created_at >= $first AND created_at < $first + INTERVAL 1 YEAR GROUP BY day",
        {"first": FIRST},
    )
    return days.height


def previewed(reader: ReplicaReader) -> int:
    return len(preview(reader, year_request("chat_summary"), 31).rows)


RUNS = {
    "floor": floor,
    "chat_summary": summary("chat_summary"),
    "agent_summary": summary("agent_summary"),
    "preview": previewed,
}


def one(measure: str, root: str) -> None:
    with ReplicaReader(root, "org_001") as reader:
        started = time.monotonic()
        rows = RUNS[measure](reader)
        took = time.monotonic() - started
    with open("/proc/self/status") as status:
        hwm = next(line for line in status if line.startswith("VmHWM")).split()[1]
    print(f"{rows} {took:.2f} {int(hwm) / 1024:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("replicas", nargs="+", type=Path)
    parser.add_argument("--one", choices=MEASURES, help="measure one, in this process")
    args = parser.parse_args()
    if args.one:
        one(args.one, str(args.replicas[0]))
        return
    print("| replica | measure | rows | seconds | peak RSS MB |\n|---|---|---:|---:|---:|")
    for root in args.replicas:
        for measure in MEASURES:
            out = subprocess.run(
                [sys.executable, "-m", "bench.summary_bench", "--one", measure, str(root)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            rows, seconds, rss = out[-3:]
            print(f"| {root.name} | {measure} | {int(rows):,} | {seconds} | {rss} |", flush=True)


if __name__ == "__main__":
    main()
