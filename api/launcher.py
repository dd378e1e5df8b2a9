"""Launching export runs on Dagster through its GraphQL API."""

from __future__ import annotations

import logging
import urllib.request
from urllib.parse import urlparse

from dagster_graphql import DagsterGraphQLClient

from reports_pipeline.export import run_config, run_tags
from reports_pipeline.job_table import JobTable, ReportRow

log = logging.getLogger("api.launcher")

JOB_NAME = "export_report"


class DagsterLauncher:
    def __init__(self, dagster_url: str, *, timeout_s: int = 10) -> None:
        parsed = urlparse(dagster_url)
        self.hostname = parsed.hostname or "127.0.0.1"
        self.port = parsed.port
        self.use_https = parsed.scheme == "https"
        self.path_prefix = parsed.path.rstrip("/")
        self.timeout_s = timeout_s

    def client(self) -> DagsterGraphQLClient:
        return DagsterGraphQLClient(
            self.hostname,
            port_number=self.port,
            use_https=self.use_https,
            timeout=self.timeout_s,
            path_prefix=self.path_prefix,
        )

    def launch(self, report: ReportRow, job_table: JobTable) -> str | None:
        """Submit the run and record its id; if Dagster cannot be reached the report stays
        pending and the `launch_pending_reports` sensor launches it once Dagster is back."""
        try:
            run_id = self.client().submit_job_execution(
                JOB_NAME,
                run_config=run_config(
                    report.id,
                    report.organisation_id,
                    report.type,
                    report.filters,
                    report.timezone,
                ),
                tags=run_tags(report.id, report.organisation_id, report.type),
            )
        except Exception as error:  # any failure to reach Dagster leaves it to the sensor
            log.warning(
                "could not launch report %s now (%s: %s); the launch sensor will",
                report.id,
                type(error).__name__,
                str(error).splitlines()[0][:200],
            )
            return None
        job_table.set_run_id(report.id, run_id)
        return run_id

    def ping(self) -> None:
        """Raises unless the Dagster webserver answers."""
        scheme = "https" if self.use_https else "http"
        port = f":{self.port}" if self.port else ""
        url = f"{scheme}://{self.hostname}{port}{self.path_prefix}/server_info"
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - our own setting
            answer.read()
