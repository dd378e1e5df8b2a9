"""Launching export runs on Dagster through its GraphQL API."""

from __future__ import annotations

import logging
import urllib.request
from urllib.parse import urlparse

from dagster_graphql import DagsterGraphQLClient

from reports_pipeline.export import run_config, run_tags
from reports_pipeline.job_table import ReportRow

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

    def launch(self, report: ReportRow) -> str | None:
        """Submit the report's run. It writes nothing to the job table: the run claims the
        report itself, and if this launch fails (or answers late, or twice) the
        `reconcile_reports` sensor launches it, and only one run can ever claim it."""
        try:
            return self.client().submit_job_execution(
                JOB_NAME, run_config=run_config(report.id), tags=run_tags(report)
            )
        except Exception as error:  # any failure to reach Dagster leaves it to the sensor
            self._log_unreachable(f"launch report {report.id}", error)
            return None

    def terminate(self, run_id: str) -> None:
        """Ask Dagster to stop a canceled report's run now; the reconciler does it on its
        next tick if Dagster cannot be reached."""
        try:
            self.client().terminate_run(run_id)
        except Exception as error:
            self._log_unreachable(f"terminate run {run_id}", error)

    @staticmethod
    def _log_unreachable(what: str, error: Exception) -> None:
        first_line = (str(error).splitlines() or [""])[0][:200]
        log.warning(
            "could not %s now (%s: %s); the reconciler will", what, type(error).__name__, first_line
        )

    def ping(self) -> None:
        """Raises unless the Dagster webserver answers."""
        scheme = "https" if self.use_https else "http"
        port = f":{self.port}" if self.port else ""
        url = f"{scheme}://{self.hostname}{port}{self.path_prefix}/server_info"
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - our own setting
            answer.read()
