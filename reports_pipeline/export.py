"""The `export_report` job: one recorded request becomes one CSV file in the object store."""

import contextlib
import ctypes
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from dagster import Config, MetadataValue, OpExecutionContext, in_process_executor, job, op
from pydantic import ValidationError

from reports_pipeline.csv_writer import encode_batch, header_bytes
from reports_pipeline.job_table import JobTable
from reports_pipeline.prefetch import prefetch
from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports import REPORT_TYPES, Export
from reports_pipeline.resources import JobTableResource, ReplicaResource, ReportStoreResource
from reports_pipeline.storage import ReportStore

PROGRESS_EVERY_S = 2.0
# glibc's M_MMAP_THRESHOLD: allocations above it are mmapped and handed back when freed.
M_MMAP_THRESHOLD = -3
LARGE_ALLOCATION = 1024 * 1024
ENCODE_ROWS = 10_000
TAG_ORGANISATION = "reports/organisation"
TAG_TYPE = "reports/type"
TAG_REPORT_ID = "reports/report_id"


class ExportConfig(Config):
    """What the API recorded; filters travel as the JSON the API already validated."""

    report_id: str
    organisation_id: str
    report_type: str
    filters_json: str = "{}"
    timezone: str = "UTC"
    slice_rows: int = 50_000


def run_tags(report_id: str, organisation_id: str, report_type: str) -> dict[str, str]:
    return {
        TAG_ORGANISATION: organisation_id,
        TAG_TYPE: report_type,
        TAG_REPORT_ID: report_id,
    }


def run_config(
    report_id: str, organisation_id: str, report_type: str, filters: dict, timezone: str
) -> dict:
    """The run config of one request, as the API and the launch sensor submit it."""
    config = ExportConfig(
        report_id=report_id,
        organisation_id=organisation_id,
        report_type=report_type,
        filters_json=json.dumps(filters, sort_keys=True),
        timezone=timezone,
    )
    return {"ops": {"export": {"config": config.model_dump()}}}


def file_name_for(report_type: str, report_id: str, created_at: datetime) -> str:
    stamp = created_at.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{report_type.replace('_', '-')}-report-{stamp}-{report_id[:8]}.csv"


class ExportFailed(Exception):
    """An error whose message a person can act on; it becomes the report's `error`."""


@op(name="export", tags={"kind": "csv"})
def export_op(
    context: OpExecutionContext,
    config: ExportConfig,
    replica: ReplicaResource,
    store: ReportStoreResource,
    job_table: JobTableResource,
) -> None:
    table = job_table.table
    report = table.get_by_id(config.report_id)
    if report is None:
        raise ExportFailed(f"report {config.report_id} is not in the job table")
    if not table.claim(config.report_id, context.run_id):
        context.log.warning(
            f"report {config.report_id} is already {report.status.value} "
            f"(run {report.dagster_run_id}); this run does nothing"
        )
        return
    _release_large_buffers_on_free()
    started = time.monotonic()
    file_name = file_name_for(config.report_type, config.report_id, report.created_at)
    key = ReportStore.object_key(config.organisation_id, config.report_id, file_name)
    rows = _RowCounter(context, table, config.report_id)
    try:
        with replica.open(config.organisation_id) as reader:
            export = _build_export(config, reader)
            result = store.store().upload_stream(key, _csv_chunks(export, config.timezone, rows))
    except Exception as error:
        table.fail(config.report_id, _reason(error, context.run_id))
        raise
    table.complete(
        config.report_id,
        row_count=rows.total,
        size_bytes=result.size_bytes,
        file_name=file_name,
        object_key=key,
    )
    elapsed = time.monotonic() - started
    context.add_output_metadata(
        {
            "rows": rows.total,
            "bytes": result.size_bytes,
            "parts": result.parts,
            "duration_s": round(elapsed, 3),
            "object_uri": MetadataValue.url(f"s3://{store.bucket}/{key}"),
        }
    )
    context.log.info(f"wrote {rows.total} rows, {result.size_bytes} bytes in {elapsed:.1f}s")


def _build_export(config: ExportConfig, reader: ReplicaReader) -> Export:
    report_type = REPORT_TYPES.get(config.report_type)
    if report_type is None:
        raise ExportFailed(f"unknown report type '{config.report_type}'")
    try:
        ZoneInfo(config.timezone)
        filters = report_type.parse_filters(json.loads(config.filters_json))
    except (ValueError, ValidationError) as error:
        raise ExportFailed(f"the request's filters or timezone are not valid: {error}") from error
    return report_type.build(reader, filters, config.timezone, config.slice_rows)


class _RowCounter:
    """Counts rows and reports progress to the job table at most every couple of seconds."""

    def __init__(self, context: OpExecutionContext, table: JobTable, report_id: str) -> None:
        self.context, self.table, self.report_id = context, table, report_id
        self.total = 0
        self._last = time.monotonic()

    def add(self, rows: int) -> None:
        self.total += rows
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY_S:
            self._last = now
            self.table.record_progress(self.report_id, self.total)
            self.context.log.info(f"{self.total} rows written")


def _csv_chunks(export: Export, tz: str, rows: _RowCounter) -> Iterator[bytes]:
    yield header_bytes(export.columns)
    for batch in prefetch(export.batches):
        # Encoding a slice in pieces keeps its text (cells, then bytes) small in memory.
        for piece in batch.iter_slices(ENCODE_ROWS):
            rows.add(piece.height)
            yield encode_batch(piece, tz)


def _release_large_buffers_on_free() -> None:
    """Keep the run's big transient buffers (CSV pieces, upload parts, query results) out of
    glibc's heap. glibc raises its mmap threshold up to 32 MiB after the first large free,
    after which such buffers stay in fragmented arenas: ~50 MB of peak RSS on a 1M-chat
    export, at no measurable cost in speed. A no-op where the C library is not glibc."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, LARGE_ALLOCATION)


def _reason(error: Exception, run_id: str) -> str:
    """A reason for the report's `error`: plain words, no stack trace or internals."""
    if isinstance(error, ExportFailed):
        return str(error)
    module = type(error).__module__
    if module.startswith(("botocore", "boto3", "urllib3")) or "Store" in type(error).__name__:
        return "The file store could not be reached, so the export was not saved. Please retry."
    if module.startswith("duckdb") or isinstance(error, OSError):
        return "The CRM replica could not be read for this export. Please retry later."
    return f"The export failed unexpectedly (run {run_id}). Please retry or contact support."


# One op: the in-process executor saves a second interpreter per run (~3 s on two cores),
# and makes the run worker the process that exports, so losing it fails the run.
@job(
    name="export_report",
    description="Export one recorded report request as a CSV file to the object store.",
    executor_def=in_process_executor,
)
def export_report() -> None:
    export_op()
