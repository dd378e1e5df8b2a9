"""Export benchmark: the pipeline against the two ceilings, side by side in one run.

    python -m bench.export_bench --sizes 1000000 5000000 [--types chat message] [--keep-replicas]
    python -m bench.export_bench --sizes 1000000 --formats csv csv_gz xlsx parquet jsonl
    python -m bench.export_bench --sizes 1000000 5000000 --selective [--baseline-sizes 1000000]
    python -m bench.export_bench --sizes 1000000 --before f4a34d6^   # A/B against a commit

For each size it generates a one-organisation replica, then measures, each in a fresh
process so peak RSS is that measurement's own:

- pipeline: the real `export_report` job (execute_in_process) streaming to the S3 server;
- copy:     DuckDB `COPY (the same rows) TO` a local CSV — the query engine's ceiling
            (for tickets, call logs and contacts their base rows, unenriched; none for goals);
- upload:   a plain multipart upload of the same number of bytes — the store's ceiling.

It prints rows/s, MB/s, peak RSS and pipeline rate / min(ceilings). With `--formats` it
instead runs the chat pipeline once per file format, the CSV run being the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from devstack import Ports, Stack
from warehouse.generate import ReplicaSpec, generate

if TYPE_CHECKING:
    from reports_pipeline.replica import ReplicaReader
    from reports_pipeline.reports.event import EventFilters

BUCKET = "bench"
ORG = "org_001"
# The types with a DuckDB COPY beside them (goal's rows are built from several tables'
# slices; it has none).
COPIED_TYPES = ("chat", "message", "ticket", "call_log", "contact", "event")

# The engine's ceiling on the same rows: the chat export's own slice query, run once over
# the whole organisation and written by DuckDB's COPY (no slicing, no Python in the loop).
COPY_SQL = "COPY (SELECT * FROM ({query}) ORDER BY created_at, chat_id) TO '{target}' (HEADER)"
# The same for the message export: every message with its chat, contact, sender, position
# and response time, in the export's order, in one query.
MESSAGE_COPY_SQL = """COPY (
    WITH said AS (
        SELECT m.*, lag(m.sender) OVER w = 'user' AS after_user, row_number() OVER w AS position
        FROM messages m WINDOW w AS (PARTITION BY m.chat_id ORDER BY m.sent_at, m.message_id)),
    waiting AS (
        SELECT *, last_value(CASE WHEN sender = 'user' AND NOT coalesce(after_user, false)
                                  THEN sent_at END IGNORE NULLS)
                  OVER (PARTITION BY chat_id ORDER BY sent_at, message_id
                        ROWS UNBOUNDED PRECEDING) AS since
        FROM said)
    SELECT w.message_id, w.chat_id, c.name, ch.name AS channel, cc.contact_id, p.name AS contact,
           w.position, w.sent_at, w.sender, w.member_id, tm.name AS member, w.text,
           CASE WHEN w.sender <> 'user' AND w.after_user
                THEN epoch(w.sent_at - w.since)::BIGINT END AS response_s
    FROM waiting w JOIN c USING (chat_id) LEFT JOIN channels ch USING (channel_id)
    LEFT JOIN chat_contacts cc ON cc.chat_id = w.chat_id AND cc.is_primary
    LEFT JOIN contacts p ON p.contact_id = cc.contact_id
    LEFT JOIN team_members tm ON tm.member_id = w.member_id
    ORDER BY c.created_at, c.chat_id, w.sent_at, w.message_id) TO '{target}' (HEADER)"""


def measure_pipeline(
    replica: str,
    s3_url: str,
    workdir: str,
    report_type: str = "chat",
    file_format: str = "csv",
    filters: str = "{}",
    pushdown: str = "on",
    lookups: str = "once",
) -> dict[str, float]:
    from dagster_aws.s3 import S3Resource

    from reports_pipeline.reports import base, contact_lookups

    base.PUSHDOWN = pushdown == "on"
    contact_lookups.ONCE = lookups == "once"

    from reports_pipeline.contract import JOB_NAME, run_config, run_tags
    from reports_pipeline.definitions import defs
    from reports_pipeline.job_table import JobTable, Requester, make_engine, migrate
    from reports_pipeline.lifecycle import Lifecycle
    from reports_pipeline.request import parse_request
    from reports_pipeline.resources import (
        JobTableResource,
        ReplicaResource,
        ReportStoreResource,
    )

    # A job table of its own: measurements of one type must not meet the rate limit.
    url = f"sqlite:///{tempfile.mkdtemp(dir=workdir)}/jobs.db"
    migrate(make_engine(url))
    report = Lifecycle(make_engine(url)).request(
        ORG,
        parse_request({"type": report_type, "format": file_format, "filters": json.loads(filters)}),
        Requester("bench"),
    )
    resources = {
        "replica": ReplicaResource(root=replica),
        "store": ReportStoreResource(
            s3=S3Resource(endpoint_url=s3_url, region_name="us-east-1"), bucket=BUCKET
        ),
        "job_table": JobTableResource(database_url=url),
    }
    started = time.monotonic()
    result = defs.resolve_job_def(JOB_NAME).execute_in_process(
        run_config=run_config(report.id),
        tags=run_tags(report),
        resources=resources,
    )
    elapsed = time.monotonic() - started
    assert result.success
    done = JobTable(make_engine(url)).get(ORG, report.id)
    assert done is not None and done.row_count is not None and done.file_size_bytes
    return {"rows": done.row_count, "bytes": done.file_size_bytes, "seconds": elapsed}


def measure_copy(
    replica: str, workdir: str, report_type: str = "chat", filters: str = "{}"
) -> dict[str, float]:
    """DuckDB alone writing the export's rows as one query (the engine's ceiling), over the
    rows the export's own prefilter keeps (`filters`). Chats and messages are enriched as
    the export enriches them; the other sliced types are written as their base rows are,
    unenriched: a ceiling their export cannot reach."""
    from reports_pipeline.replica import ReplicaReader
    from reports_pipeline.reports import REPORT_TYPES, chat
    from reports_pipeline.reports.event import EventFilters, occurred_window
    from reports_pipeline.reports.message import MessageFilters, sent_window
    from reports_pipeline.request import parse_request

    target = Path(workdir) / "copy.csv"
    reader = ReplicaReader(Path(replica), ORG, memory_limit="4GB")
    for table in (*chat.SLICE_TABLES, "chats"):
        reader._declare(table)  # noqa: SLF001 - the benchmark borrows the reader's views
    request = parse_request({"type": report_type, "filters": json.loads(filters)})
    if isinstance(request.filters, EventFilters):
        window = occurred_window(request.filters.occurred, "UTC")
        base = chat.BASE
        keep = base.narrowed(reader, request.filters.chat_filters(), "UTC", window)[0]
    elif isinstance(request.filters, MessageFilters):
        window = sent_window(request.filters.sent, "UTC")
        base = chat.BASE
        keep = base.narrowed(reader, request.filters.chat_filters(), "UTC", window)[0]
    else:
        declared = REPORT_TYPES[report_type].base
        if declared is None:
            raise ValueError(f"{report_type} has no base table to copy")
        base = declared
        keep = base.narrowed(reader, request.filters, "UTC")[0]
    for table in (base.table, *keep.tables):
        reader._declare(table)  # noqa: SLF001
    started = time.monotonic()
    reader.con.execute(  # our own text over bound values
        f"CREATE TEMP TABLE c AS SELECT * FROM {base.table} WHERE {keep.sql}", keep.params
    )
    if isinstance(request.filters, EventFilters):
        copy = _event_copy(reader, request.filters, target)
    elif report_type == "message":
        copy = MESSAGE_COPY_SQL.format(target=target)
    elif report_type == "chat":
        copy = COPY_SQL.format(query=_chat_query(), target=target)
    else:
        order = f"{base.ts}, {base.key}"
        copy = f"COPY (SELECT * FROM c ORDER BY {order}) TO '{target}' (HEADER)"
    ((rows,),) = reader.con.execute(copy).fetchall()  # our own text and path
    elapsed = time.monotonic() - started
    size = target.stat().st_size
    target.unlink()
    return {"rows": rows, "bytes": size, "seconds": elapsed}


def _event_copy(reader: ReplicaReader, filters: EventFilters, target: Path) -> str:
    """The COPY of the event export's rows, computed by the metrics' own queries over every
    chosen chat at once (ids and names, not joined names) and the status changes."""
    from reports_pipeline.metrics import EVENT_ROWS_SQL, METRICS_TABLES, STATUS_ROWS_SQL
    from reports_pipeline.pushdown import in_range

    for table in METRICS_TABLES + ("member_status",):
        reader._declare(table)  # noqa: SLF001
    ((lo, hi),) = reader.con.execute("SELECT min(chat_id), max(chat_id) FROM c").fetchall()
    occurred = in_range(filters.occurred, "occurred_at", "UTC", prefix="o")
    reader.con.execute(  # our own text over bound values
        f"""CREATE TEMP TABLE e AS SELECT * FROM (
                ({EVENT_ROWS_SQL}) UNION ALL ({STATUS_ROWS_SQL})) WHERE {occurred.sql}""",
        {"lo": lo or 0, "hi": hi or 0, **occurred.params},
    )
    order = "occurred_at, event_type, event_id"
    return f"COPY (SELECT * FROM e ORDER BY {order}) TO '{target}' (HEADER)"


def _chat_query() -> str:
    """The chat export's own pieces as one query: every chat of `c` joined to every piece."""
    from reports_pipeline.reports.chat import CHATS_SQL, PIECES

    query = (
        "WITH "
        + ", ".join(f"p{i} AS ({sql})" for i, sql in enumerate(PIECES))
        + f" SELECT * FROM ({CHATS_SQL}) base "
        + " ".join(f"LEFT JOIN p{i} USING (chat_id)" for i in range(len(PIECES)))
    )
    return (
        query.replace("$lo", "(SELECT min(chat_id) FROM chats)")
        .replace("$hi", "(SELECT max(chat_id) FROM chats)")
        .replace("$notes", "5")
        .replace("$note_chars", "100")
    )


def measure_upload(s3_url: str, size: int) -> dict[str, float]:
    from reports_pipeline.storage import MIB, ReportStore, make_s3_client

    store = ReportStore(make_s3_client(endpoint_url=s3_url, region="us-east-1"), BUCKET)
    block = os.urandom(MIB)

    def chunks():  # type: ignore[no-untyped-def]
        left = size
        while left > 0:
            yield block[: min(MIB, left)]
            left -= MIB

    started = time.monotonic()
    store.upload_stream("bench/plain-upload.bin", chunks())
    return {"rows": 0, "bytes": size, "seconds": time.monotonic() - started}


NOISE = re.compile(r"nanobind|leaked|skipped remainder")


def child(
    kind: str, args: list[str], timeout: float | None = None, code: Path | None = None
) -> dict[str, float] | None:
    """Run one measurement in a fresh interpreter; it reports its own peak RSS.
    None when it failed or did not finish within `timeout` seconds (the child is killed).
    `code` is a checkout whose pipeline to measure instead of this one's (`--before`)."""
    try:
        out = subprocess.run(  # noqa: S603 - our own module
            [sys.executable, "-m", "bench.export_bench", "--child", kind, *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=code,
        )
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as error:
        # DuckDB's bindings report "leaked" objects at exit: drop them, keep the error.
        lines = [line for line in error.stderr.splitlines() if not NOISE.search(line)]
        print(f"{kind} failed:\n" + "\n".join(lines[-40:]), file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM is per address space; ru_maxrss survives exec
    and would report the parent's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_child(kind: str, args: list[str]) -> None:
    if kind == "pipeline":
        result = measure_pipeline(*args)
    elif kind == "copy":
        result = measure_copy(*args)
    else:
        result = measure_upload(args[0], int(args[1]))
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def checkout(rev: str, workdir: Path) -> Path:
    """A worktree of this repository at `rev`, for measuring its pipeline on the same
    replica beside this one's."""
    where = workdir / f"before-{rev}"
    if not where.exists():
        git = ["git", "worktree", "add", "--detach", str(where), rev]
        subprocess.run(git, check=True, capture_output=True)  # noqa: S603
    return where.resolve()


def clear_bucket(stack: Stack) -> None:
    from reports_pipeline.storage import make_s3_client

    client = make_s3_client(endpoint_url=stack.s3_url, region="us-east-1")
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])


def print_row(size: int, report_type: str, name: str, m: dict[str, float] | None) -> None:
    if m is None:
        print(f"| {size:,} | {report_type} | {name} | failed | | | |", flush=True)
        return
    rows = f"{m['rows'] / m['seconds']:,.0f}" if m["rows"] else "—"
    print(
        f"| {size:,} | {report_type} | {name} | {rows} | {m['bytes'] / m['seconds'] / 1e6:.1f} "
        f"| {m['peak_rss_mb']:.0f} | {m['seconds']:.1f} |",
        flush=True,
    )


def print_size(
    size: int,
    report_type: str,
    pipeline: dict[str, float],
    copy: dict[str, float] | None,
    upload: dict[str, float] | None,
    timeout: float,
) -> None:
    """The rows of one size; a ceiling that did not finish counts at its best possible rate
    (all bytes in `timeout` seconds), so the ratio printed is then a lower bound."""
    rates = {}
    for name, m in (("pipeline", pipeline), ("duckdb COPY", copy), ("plain upload", upload)):
        if m is None:
            rates[name] = pipeline["bytes"] / timeout / 1e6
            print(
                f"| {size:,} | {report_type} | {name} | failed or over {timeout:.0f} s | | | |",
                flush=True,
            )
            continue
        rates[name] = m["bytes"] / m["seconds"] / 1e6
        print_row(size, report_type, name, m)
    ratio = rates["pipeline"] / min(rates["duckdb COPY"], rates["plain upload"])
    bound = "≥ " if copy is None or upload is None else ""
    print(
        f"| {size:,} | {report_type} | **ratio** pipeline / min(ceilings) "
        f"| | **{bound}{ratio:.2f}** | | |"
    )


def selective_cases(end: date) -> list[tuple[str, str, dict[str, object]]]:
    """(name, type, filters): the filters admins use most, relative to the data's last day."""
    month_end = end.replace(day=1) - timedelta(days=1)
    month = {"from": month_end.replace(day=1).isoformat(), "to": month_end.isoformat()}
    return [
        ("chat: last month", "chat", {"created": month}),
        ("chat: last month + high priority", "chat", {"created": month, "high_priority": True}),
        (
            "chat: labels 2 and 3 (every)",
            "chat",
            {"labels": {"values": [2, 3], "require_every_value": True}},
        ),
        ("chat: contact search", "chat", {"search": "ana"}),
        (
            "chat: custom field plan = Pro",
            "chat",
            {"contact_custom_fields": [{"field": "plan", "op": "eq", "value": "Pro"}]},
        ),
        ("ticket: high priority", "ticket", {"priorities": {"values": ["high"]}}),
        (
            "call_log: inbound, last month",
            "call_log",
            {"directions": {"values": ["inbound"]}, "date": month},
        ),
        ("contact: created last month", "contact", {"created": month}),
        ("message: last month's chats", "message", {"created": month}),
        ("goal: last month's events", "goal", {"event_date": month}),
        ("event: last month", "event", {"occurred": month}),
    ]


def run_selective(
    size: int, replica: Path, stack: Stack, work: Path, baseline: bool, only: list[str]
) -> None:
    """Each case beside the full export of its type; with `baseline`, also the same case
    with filters decided only after enrichment (the design before pushdown)."""
    import duckdb

    with duckdb.connect() as con:
        glob = f"{replica}/chats/*/*.parquet"
        end = con.execute(f"SELECT max(created_at)::DATE FROM '{glob}'").fetchall()[0][0]
    full: dict[str, dict[str, float]] = {}
    for name, report_type, filters in selective_cases(end):
        if only and not any(part in name for part in only):
            continue
        with tempfile.TemporaryDirectory(dir=work) as workdir:
            where = [str(replica.resolve()), stack.s3_url, workdir, report_type, "csv"]
            if report_type not in full:
                full[report_type] = child("pipeline", where) or {}
                clear_bucket(stack)
            pushed = child("pipeline", [*where, json.dumps(filters), "on"])
            clear_bucket(stack)
            before = child("pipeline", [*where, json.dumps(filters), "off"]) if baseline else None
            clear_bucket(stack)
            copy = (
                child("copy", [str(replica.resolve()), workdir, report_type, json.dumps(filters)])
                if report_type in COPIED_TYPES
                else None
            )
        print_selective(size, name, pushed, before, full[report_type], copy)


def print_selective(
    size: int,
    name: str,
    pushed: dict[str, float] | None,
    before: dict[str, float] | None,
    full: dict[str, float],
    copy: dict[str, float] | None,
) -> None:
    if not pushed or not full:
        print(f"| {size:,} | {name} | failed | | | | | |", flush=True)
        return
    share = pushed["rows"] / max(full["rows"], 1)
    target = max(1.0, 2 * share * full["seconds"])
    was = f"{before['seconds']:.1f}" if before else "—"
    ceiling = f"{copy['seconds']:.1f}" if copy else "—"
    print(
        f"| {size:,} | {name} | {pushed['rows']:,.0f} ({share:.1%}) | {pushed['seconds']:.1f} "
        f"| {was} | {ceiling} | {full['seconds']:.1f} | {target:.1f} "
        f"| {pushed['peak_rss_mb']:.0f} |",
        flush=True,
    )


def print_format(size: int, file_format: str, m: dict[str, float] | None) -> None:
    if m is None:
        print(f"| {size:,} | chat | {file_format} | failed | | | |", flush=True)
        return
    print(
        f"| {size:,} | chat | {file_format} | {m['rows'] / m['seconds']:,.0f} "
        f"| {m['bytes'] / m['seconds'] / 1e6:.1f} | {m['peak_rss_mb']:.0f} | {m['seconds']:.1f} "
        f"| {m['bytes'] / 1e6:,.0f} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--work", type=Path, default=Path(".local/bench"))
    parser.add_argument(
        "--types", nargs="+", default=["chat"], choices=["chat", "message", "event"]
    )
    parser.add_argument(
        "--formats", nargs="+", choices=["csv", "csv_gz", "xlsx", "parquet", "jsonl"]
    )
    parser.add_argument(
        "--selective", action="store_true", help="the selective cases beside the full export"
    )
    parser.add_argument(
        "--baseline-sizes",
        type=int,
        nargs="*",
        default=[1_000_000],
        help="sizes at which --selective also runs each case without pushdown",
    )
    parser.add_argument(
        "--cases", nargs="*", default=[], help="with --selective: only cases naming one of these"
    )
    parser.add_argument(
        "--lookup-baseline",
        action="store_true",
        help="also run the full export looking primary contacts up slice by slice",
    )
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also run each type's pipeline as the commit REV built it, on the same replica",
    )
    parser.add_argument("--keep-replicas", action="store_true")
    parser.add_argument(
        "--ceiling-timeout",
        type=float,
        default=900,
        help="seconds a ceiling measurement may take before it is reported as not finished",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child:
        run_child(args.child, rest)
        return
    args.work = args.work.resolve()  # children of another checkout (`--before`) run elsewhere
    args.work.mkdir(parents=True, exist_ok=True)
    before_code = checkout(args.before, args.work) if args.before else None
    stack = Stack(home=args.work, replica=args.work, ports=Ports.free(), bucket=BUCKET)
    # The measurements (child processes) sign with the store's key, as a run does.
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = stack.s3_credentials
    stack.start_s3()
    if args.selective:
        print(
            "| chats | case | rows (share) | seconds | seconds without pushdown "
            "| DuckDB COPY s | full export s | target s | peak RSS MB |"
        )
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    elif args.formats:
        print("| chats | export | format | rows/s | MB/s (file) | peak RSS MB | seconds | MB |")
        print("|---:|---|---|---:|---:|---:|---:|---:|")
    else:
        print("| chats | export | measurement | rows/s | MB/s | peak RSS MB | seconds |")
        print("|---:|---|---|---:|---:|---:|---:|")
    try:
        for size in args.sizes:
            replica = args.work / f"replica-{size}"
            if not (replica / "replica.duckdb").exists():
                generate(replica, ReplicaSpec(orgs=1, chats_per_org=size, seed=1))
            if args.selective:
                baseline = size in args.baseline_sizes
                run_selective(size, replica, stack, args.work, baseline, args.cases)
            for file_format in args.formats or []:
                with tempfile.TemporaryDirectory(dir=args.work) as workdir:
                    where = [str(replica.resolve()), stack.s3_url, workdir, "chat", file_format]
                    print_format(size, file_format, child("pipeline", where))
                    clear_bucket(stack)
                    if before_code:
                        before = child("pipeline", where, code=before_code)
                        print_format(size, f"{file_format} as of {args.before}", before)
                        clear_bucket(stack)
            for kind in [] if args.formats or args.selective else args.types:
                with tempfile.TemporaryDirectory(dir=args.work) as workdir:
                    where = [str(replica.resolve()), stack.s3_url, workdir, kind]
                    pipeline = child("pipeline", where)
                    assert pipeline is not None
                    clear_bucket(stack)
                    if before_code:
                        before = child("pipeline", where, code=before_code)
                        print_row(size, kind, f"pipeline as of {args.before}", before)
                        clear_bucket(stack)
                    if args.lookup_baseline and kind == "chat":
                        per_slice = child("pipeline", [*where, "csv", "{}", "on", "per-slice"])
                        print_row(size, kind, "pipeline, contacts looked up per slice", per_slice)
                        clear_bucket(stack)
                    size_arg = str(int(pipeline["bytes"]))
                    copy_args = [str(replica.resolve()), workdir, kind]
                    copy = child("copy", copy_args, args.ceiling_timeout)
                    upload = child("upload", [stack.s3_url, size_arg], args.ceiling_timeout)
                    clear_bucket(stack)
                print_size(size, kind, pipeline, copy, upload, args.ceiling_timeout)
            if not args.keep_replicas:
                shutil.rmtree(replica)
    finally:
        stack.stop()
        if before_code:
            remove = ["git", "worktree", "remove", "--force", str(before_code)]
            subprocess.run(remove, check=False, capture_output=True)  # noqa: S603


if __name__ == "__main__":
    main()
