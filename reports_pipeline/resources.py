"""Dagster resources: every external system the export run touches."""

from typing import Any

import sqlalchemy as sa
from dagster import ConfigurableResource, InitResourceContext
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr

from reports_pipeline.job_table import JobTable, ReportRow, make_engine
from reports_pipeline.lifecycle import Lifecycle
from reports_pipeline.protection import PasswordBox
from reports_pipeline.replica import ReplicaReader
from reports_pipeline.schedules import Schedules
from reports_pipeline.settings import LOCAL_FILE_PASSWORD_KEY
from reports_pipeline.storage import (
    CLEANUP_TIMEOUT_S,
    COMPLETE_ATTEMPTS,
    COMPLETE_TIMEOUT_S,
    MIB,
    ReportStore,
    make_s3_client,
)
from reports_pipeline.webhooks import Webhooks
from warehouse.location import ReplicaLocation


class ReplicaResource(ConfigurableResource):
    """The DuckDB/Parquet replica of the CRM."""

    root: str  # a folder, or s3://bucket/prefix
    s3_endpoint_url: str | None = None  # the S3-compatible store of an s3:// root, if not AWS
    memory_limit: str = "128MB"
    slice_rows: int = 50_000

    @property
    def location(self) -> ReplicaLocation:
        return ReplicaLocation.of(self.root, self.s3_endpoint_url)

    def open(self, organisation_id: str) -> ReplicaReader:
        return ReplicaReader(self.location, organisation_id, memory_limit=self.memory_limit)


class JobTableResource(ConfigurableResource):
    """The job table the API writes requests into and the run reports status back to:
    `table` reads it, `lifecycle` moves a report's status."""

    database_url: str
    # Opens the sealed password of a protected file (reports_pipeline.protection).
    file_password_key: str = LOCAL_FILE_PASSWORD_KEY
    # Where people reach the API that serves this job table (runs link to their report).
    public_api_url: str = "http://127.0.0.1:8000"
    # Outside production, webhooks may call loopback and private addresses (tests, make up).
    env: str = "local"
    _table: "JobTable | None" = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._table = JobTable(make_engine(self.database_url))

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._table is not None:
            self._table.engine.dispose()

    @property
    def table(self) -> JobTable:
        if self._table is None:  # used outside a run (sensors build it lazily)
            self._table = JobTable(make_engine(self.database_url))
        return self._table

    @property
    def lifecycle(self) -> Lifecycle:
        return Lifecycle(self.table.engine)

    def ready(self) -> bool:
        """Whether the job table exists yet (the API, or `make up`, creates it)."""
        return sa.inspect(self.table.engine).has_table("reports")

    @property
    def schedules(self) -> Schedules:
        return Schedules(self.table.engine, self.lifecycle)

    @property
    def webhooks(self) -> Webhooks:
        return Webhooks(self.table.engine, self.passwords, local=self.env != "production")

    def report_url(self, report: ReportRow) -> str:
        base = self.public_api_url.rstrip("/")
        return f"{base}/api/wp-crm/reports/{report.organisation_id}/{report.id}"

    @property
    def passwords(self) -> PasswordBox:
        return PasswordBox(self.file_password_key)


class ReportStoreResource(ConfigurableResource):
    """The bucket that holds finished export files (any S3-compatible endpoint)."""

    s3: S3Resource
    bucket: str
    part_size_mib: int = 8
    # How long a removal inside a sensor's tick waits for each answer of the store.
    cleanup_timeout_s: float = CLEANUP_TIMEOUT_S

    def store(self) -> ReportStore:
        # The same endpoint and credentials as the parts' client, waiting longer for an answer.
        completer = self._client(
            attempts=min(self.s3.max_attempts, COMPLETE_ATTEMPTS), timeout_s=COMPLETE_TIMEOUT_S
        )
        part_size = self.part_size_mib * MIB
        return ReportStore(
            self.s3.get_client(), self.bucket, part_size=part_size, completer=completer
        )

    def cleaner(self) -> ReportStore:
        """The store for removing files inside a sensor's tick: one attempt of each request,
        each given up after `cleanup_timeout_s`, so the tick can tell how long one removal
        may take (`reports_pipeline.sensors`)."""
        client = self._client(attempts=1, timeout_s=self.cleanup_timeout_s)
        return ReportStore(client, self.bucket)

    def _client(self, *, attempts: int, timeout_s: float) -> Any:
        s3 = self.s3
        return make_s3_client(
            endpoint_url=s3.endpoint_url,
            region=s3.region_name,
            access_key_id=s3.aws_access_key_id,
            secret_access_key=s3.aws_secret_access_key,
            session_token=s3.aws_session_token,
            profile_name=s3.profile_name,
            use_ssl=s3.use_ssl,
            verify=s3.verify,
            signed=not s3.use_unsigned_session,
            attempts=attempts,
            timeout_s=timeout_s,
        )
