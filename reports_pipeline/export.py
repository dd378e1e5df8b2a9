"""The `export_report` job: one recorded request becomes one file in the object store.

The run config names the report; the request itself is the job row's document. Every
status move goes through `Lifecycle`, and the run acts on whether it applied: a run that
cannot claim the report does nothing, and a run that lost it (canceled, or failed by the
reconciler) stops writing and removes what it wrote.
"""

import contextlib
import ctypes
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import polars as pl
from dagster import (
    AssetMaterialization,
    Config,
    Failure,
    MetadataValue,
    OpExecutionContext,
    in_process_executor,
    job,
    op,
)
from pydantic import ValidationError

from reports_pipeline.assets import ORGANISATIONS_PARTITIONS, export_key
from reports_pipeline.contract import EXPORT_OP, JOB_NAME, outcome_tag
from reports_pipeline.formats import (
    FORMATS,
    FileFormat,
    FileOptions,
    content_type_of,
    extension_of,
    protected,
)
from reports_pipeline.formats.base import XLSX_SHEET_ROWS, Chunks, Sheet
from reports_pipeline.formats.dialect import CsvDialect
from reports_pipeline.job_table import ReportRow
from reports_pipeline.lifecycle import Lifecycle
from reports_pipeline.prefetch import prefetched
from reports_pipeline.protection import PasswordBox, PasswordUnavailable
from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports import REPORT_TYPES, Export
from reports_pipeline.reports.base import UnknownColumns
from reports_pipeline.request import RequestBase, parse_request
from reports_pipeline.resources import JobTableResource, ReplicaResource, ReportStoreResource
from reports_pipeline.storage import ReportStore, StoredObject

PROGRESS_EVERY_S = 2.0
# glibc's M_MMAP_THRESHOLD: allocations above it are mmapped and handed back when freed.
M_MMAP_THRESHOLD = -3
LARGE_ALLOCATION = 1024 * 1024
ENCODE_ROWS = 10_000


class ExportConfig(Config):
    """The report to export; everything else is in its job row."""

    report_id: str
    # Rows per XLSX sheet: Excel's limit, lower only to try the sheet break on a small export.
    xlsx_sheet_rows: int = XLSX_SHEET_ROWS


def file_name_for(report: ReportRow) -> str:
    stamp = report.created_at.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    extension = extension_of(
        report.format, protected_file=report.password_protected, sheets=report.sheets
    )
    return f"{report.type.replace('_', '-')}-report-{stamp}-{report.id[:8]}{extension}"


class ExportFailed(Exception):
    """An error whose message a person can act on; it becomes the report's `error`."""


class ReportLost(Exception):
    """The run no longer owns its report: it was canceled, or failed by the reconciler."""


@op(name=EXPORT_OP, tags={"kind": "csv"})
def export_op(
    context: OpExecutionContext,
    config: ExportConfig,
    replica: ReplicaResource,
    store: ReportStoreResource,
    job_table: JobTableResource,
) -> None:
    report = job_table.table.get_by_id(config.report_id)
    if report is None:
        raise Failure(f"report {config.report_id} is not in the job table")
    lifecycle, run_id = job_table.lifecycle, context.run_id
    if not lifecycle.claim(report.id, run_id):
        context.log.warning(f"report {report.id} is not pending any more; this run does nothing")
        return
    _release_large_buffers_on_free()
    started = time.monotonic()
    file_name = file_name_for(report)
    key = ReportStore.object_key(report.organisation_id, report.id, file_name)
    rows, files = _RowCounter(context, lifecycle, report.id), store.store()
    try:
        request = _parse(report)
        password = _password(report, job_table.passwords)
        options = FileOptions(
            timezone=request.timezone,
            title=REPORT_TYPES[request.type].label,
            sheet_rows=config.xlsx_sheet_rows,
            csv=request.csv or CsvDialect(),
        )
        sheet = REPORT_TYPES[request.type].sheet
        target = _Target(key, FORMATS[request.format], options, password, sheet, report.sheets)
        result = _write(files, target, replica, report.organisation_id, request, rows)
        if not lifecycle.complete(
            report.id,
            run_id,
            row_count=rows.total,
            file_name=file_name,
            stored=result,
        ):
            files.delete(key)
            raise ReportLost()
    except ReportLost:
        reason = _why_lost(job_table, report.id)
        _explain(context, report, reason)
        raise Failure(description=reason, metadata=_links(job_table, report)) from None
    except Exception as error:
        reason = _fail(job_table, report, _reason(error, run_id), run_id)
        _explain(context, report, reason)
        raise Failure(description=reason, metadata=_links(job_table, report)) from error
    except BaseException as error:  # Dagster terminated the run, or the process stops
        _explain(context, report, _fail(job_table, report, _reason(error, run_id), run_id))
        raise
    _record(context, job_table, report, result, rows, time.monotonic() - started)


def _record(
    context: OpExecutionContext,
    job_table: JobTableResource,
    report: ReportRow,
    result: StoredObject,
    counter: "_RowCounter",
    elapsed: float,
) -> None:
    """The run's metadata, and the export as a materialization of its type's asset in its
    organisation's partition (the lineage a data engineer follows in the UI)."""
    rows = counter.total
    facts: dict[str, Any] = {
        "rows": rows,
        "rows_expected": counter.expected if counter.expected is not None else rows,
        "bytes": result.size_bytes,
        "sha256": result.sha256,
        "format": report.format,
        "password_protected": report.password_protected,
        "report_id": report.id,
        "requested_by": report.requested_by.name or report.requested_by.id,
        **_links(job_table, report),
    }
    context.add_output_metadata(
        {**facts, "parts": result.parts, "duration_s": round(elapsed, 3), "object_key": result.key}
    )
    instance, partitions = context.instance, ORGANISATIONS_PARTITIONS
    if not instance.has_dynamic_partition(partitions, report.organisation_id):
        instance.add_dynamic_partitions(partitions, [report.organisation_id])
    context.log_event(
        AssetMaterialization(
            asset_key=export_key(report.type), partition=report.organisation_id, metadata=facts
        )
    )
    context.log.info(f"wrote {rows} rows, {result.size_bytes} bytes in {elapsed:.1f}s")


def _links(job_table: JobTableResource, report: ReportRow) -> dict[str, MetadataValue]:
    return {"report": MetadataValue.url(job_table.report_url(report))}


def _fail(job_table: JobTableResource, report: ReportRow, reason: str, run_id: str) -> str:
    """Fail the report for `reason`; the reason that stands (a cancel may have come first)."""
    if job_table.lifecycle.fail(report.id, reason, run_id=run_id):
        return reason
    return _why_lost(job_table, report.id)


def _why_lost(job_table: JobTableResource, report_id: str) -> str:
    now = job_table.table.get_by_id(report_id)
    if now is not None and now.canceled_by is not None:
        who = now.canceled_by.name or now.canceled_by.email or now.canceled_by.id
        return f"Canceled by {who}; the run stopped and removed what it had written."
    error = now.error if now is not None else None
    return f"Failed while this run was writing it ({error}); the run stopped and removed its file."


def _explain(context: OpExecutionContext, report: ReportRow, reason: str) -> None:
    """The plain reason, where a data engineer looks: a run tag and the log's last line."""
    context.instance.add_run_tags(context.run_id, outcome_tag(reason))
    context.log.error(f"report {report.id} did not complete: {reason}")


def _parse(report: ReportRow) -> RequestBase:
    try:
        return parse_request(report.request)
    except ValidationError as error:
        raise ExportFailed(f"the stored request is not valid: {error}") from error


def _password(report: ReportRow, passwords: PasswordBox) -> str | None:
    if not report.password_protected:
        return None
    try:
        return passwords.open(report.sealed_password)
    except PasswordUnavailable:
        raise ExportFailed(
            "The file's password could not be read, so the file was not written. "
            "Please request the export again."
        ) from None


@dataclass(frozen=True)
class _Target:
    """Where the file goes and what it is: its key, format, options and password."""

    key: str
    file_format: FileFormat
    options: FileOptions
    password: str | None = field(default=None, repr=False)
    sheet: str = ""  # the rows' own file in a ZIP of sheets: `chats`
    sheets: int = 1  # the rows' own, and each related sheet

    @property
    def file_name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def content_type(self) -> str:
        protected_file = self.password is not None
        return content_type_of(
            self.file_format.name, protected_file=protected_file, sheets=self.sheets
        )

    def chunks(self, export: Export, pieces: Iterator[pl.DataFrame]) -> Chunks:
        """The file's bytes: the rows (`pieces` of `export`), then its related sheets."""
        file_format, options = self.file_format, self.options
        if not export.related:
            return self._protected(file_format.encode(export.columns, pieces, options))
        sheets = [
            Sheet(self.sheet, options.title, export.columns, pieces),
            *(
                Sheet(r.name, r.title, r.export.columns, _split(r.export.batches))
                for r in export.related
            ),
        ]
        if file_format.encode_sheets is not None:
            return self._protected(file_format.encode_sheets(sheets, options))
        files = (
            (
                f"{sheet.name}{file_format.extension}",
                file_format.encode(sheet.columns, sheet.pieces, options),
            )
            for sheet in sheets
        )
        return protected.zipped(
            files, self.password, compress=file_format.compressible, tz=options.timezone
        )

    def _protected(self, encoded: Chunks) -> Chunks:
        if self.password is None:
            return encoded
        inner_name = self.file_name.removesuffix(protected.EXTENSION)
        return protected.protect(
            encoded,
            inner_name,
            self.password,
            compress=self.file_format.compressible,
            tz=self.options.timezone,
        )


def _write(
    store: ReportStore,
    target: _Target,
    replica: ReplicaResource,
    organisation_id: str,
    request: RequestBase,
    rows: "_RowCounter",
) -> StoredObject:
    """Stream the export into the store. Leaving, in this order: the encoder (and a ZIP
    around it) is closed, the prefetch thread is stopped and joined, and only then is the
    replica closed."""
    with replica.open(organisation_id) as reader:
        export = _build_export(request, reader, replica.slice_rows)
        expected = export.matching.expected() if export.matching else None
        if expected is not None:
            rows.expect(expected)
        with (
            prefetched(export.batches) as batches,
            contextlib.closing(target.chunks(export, _pieces(batches, rows))) as chunks,
        ):
            return store.upload_stream(
                target.key, chunks, content_type=target.content_type, file_name=target.file_name
            )


def _build_export(request: RequestBase, reader: ReplicaReader, slice_rows: int) -> Export:
    report_type = REPORT_TYPES[request.type]
    return report_type.export(reader, request, slice_rows)


class _RowCounter:
    """Counts rows and reports progress to the job table at most every couple of seconds;
    raises `ReportLost` as soon as the report is no longer this run's."""

    def __init__(self, context: OpExecutionContext, lifecycle: Lifecycle, report_id: str) -> None:
        self.context, self.lifecycle, self.report_id = context, lifecycle, report_id
        self.total = 0
        self.expected: int | None = None
        self._last = time.monotonic()

    def expect(self, rows: int) -> None:
        self.expected = rows
        if not self.lifecycle.expect(self.report_id, self.context.run_id, rows):
            raise ReportLost()
        self.context.log.info(f"{rows} rows to write")

    def add(self, rows: int) -> None:
        self.total += rows
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY_S:
            self._last = now
            if not self.lifecycle.progress(self.report_id, self.context.run_id, self.total):
                raise ReportLost()
            of = f" of {self.expected}" if self.expected is not None else ""
            self.context.log.info(f"{self.total} rows written{of}")


def _pieces(batches: Iterator[pl.DataFrame], rows: "_RowCounter") -> Iterator[pl.DataFrame]:
    """Each slice in pieces, counted as the encoder takes them: encoding a piece at a time
    keeps its cells and bytes small in memory. An empty slice still passes, for its types."""
    for batch in batches:
        if batch.height == 0:
            yield batch
        for piece in batch.iter_slices(ENCODE_ROWS):
            rows.add(piece.height)
            yield piece


def _split(batches: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """A related sheet's batches in pieces the encoder takes (not counted: the report's
    rows are the rows of its own sheet)."""
    for batch in batches:
        yield from batch.iter_slices(ENCODE_ROWS) if batch.height else [batch]


def _release_large_buffers_on_free() -> None:
    """Keep the run's big transient buffers (CSV pieces, upload parts, query results) out of
    glibc's heap. glibc raises its mmap threshold up to 32 MiB after the first large free,
    after which such buffers stay in fragmented arenas: ~50 MB of peak RSS on a 1M-chat
    export, at no measurable cost in speed. A no-op where the C library is not glibc."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, LARGE_ALLOCATION)


def _reason(error: BaseException, run_id: str) -> str:
    """A reason for the report's `error`: plain words, no stack trace or internals."""
    if not isinstance(error, Exception):  # Dagster terminated the run, or the process stops
        return "The export run was stopped before it finished. Please request it again."
    if isinstance(error, ExportFailed):
        return str(error)
    if isinstance(error, UnknownColumns):  # a custom field removed since the request
        return f"The chosen columns changed: {error}. Please request the export again."
    module = type(error).__module__
    if module.startswith(("botocore", "boto3", "urllib3")) or "Store" in type(error).__name__:
        return "The file store could not be reached, so the export was not saved. Please retry."
    if module.startswith("duckdb") or isinstance(error, OSError):
        return "The CRM replica could not be read for this export. Please retry later."
    return f"The export failed unexpectedly (run {run_id}). Please retry or contact support."


# One op: the in-process executor saves a second interpreter per run (~3 s on two cores),
# and makes the run worker the process that exports, so losing it fails the run.
@job(
    name=JOB_NAME,
    description="Export one recorded report request as a CSV file to the object store.",
    executor_def=in_process_executor,
)
def export_report() -> None:
    export_op()
