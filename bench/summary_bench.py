"""A year of one organisation by day, as a summary: the build alone (the file is a few
hundred rows), in this process, with its peak RSS.

    python -m bench.summary_bench chat_summary .local/bench/replica-1000000 [2025-12-06]
"""

import sys
import time
from datetime import date, timedelta

from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports import REPORT_TYPES
from reports_pipeline.request import parse_request


def main() -> None:
    kind, root = sys.argv[1], sys.argv[2]
    first = date.fromisoformat(sys.argv[3] if len(sys.argv) > 3 else "2025-12-06")
    last = first.replace(year=first.year + 1) - timedelta(days=1)
    field = REPORT_TYPES[kind].date_filter
    request = parse_request(
        {
            "type": kind,
            "timezone": "UTC",
            "distribution": "day",
            "filters": {field: {"from": first.isoformat(), "to": last.isoformat()}},
        }
    )
    with ReplicaReader(root, "org_001") as reader:
        started = time.monotonic()
        export = REPORT_TYPES[kind].export(reader, request, 50_000)
        rows = sum(batch.height for batch in export.batches)
        took = time.monotonic() - started
    with open("/proc/self/status") as status:
        hwm = next(line for line in status if line.startswith("VmHWM")).split()[1]
    print(f"{kind} rows={rows} seconds={took:.1f} peak_rss_mb={int(hwm) / 1024:.0f}")


if __name__ == "__main__":
    main()
