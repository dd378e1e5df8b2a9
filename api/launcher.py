"""Launching export runs on Dagster through its GraphQL API.

Two mutations of Dagster's public GraphQL schema, posted with httpx: the API process needs
neither Dagster nor its GraphQL client library (which loads all of Dagster) to ask for a run.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from reports_pipeline.contract import JOB_NAME, run_config, run_tags
from reports_pipeline.job_table import ReportRow

log = logging.getLogger("api.launcher")

# Where the job lives: every repository that has it (the code location is `reports`).
FIND_JOB = """
query FindJob {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection { nodes { name location { name } pipelines { name } } }
    ... on PythonError { message }
  }
}
"""
LAUNCH = """
mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
  }
}
"""
TERMINATE = """
mutation Terminate($runId: String!) {
  terminateRun(runId: $runId) {
    __typename
    ... on TerminateRunSuccess { run { runId } }
    ... on Error { message }
  }
}
"""


class DagsterUnavailable(Exception):
    """Dagster did not do what was asked; the reconciler will."""


class DagsterLauncher:
    def __init__(self, dagster_url: str, *, timeout_s: int = 10) -> None:
        self.url = dagster_url.rstrip("/")
        self.timeout_s = timeout_s

    def launch(self, report: ReportRow) -> str | None:
        """Submit the report's run. It writes nothing to the job table: the run claims the
        report itself, and if this launch fails (or answers late, or twice) the
        `reconcile_reports` sensor launches it, and only one run can ever claim it."""
        try:
            params = {
                "selector": self._job_selector(),
                "runConfigData": run_config(report.id),
                "executionMetadata": {
                    "tags": [{"key": k, "value": v} for k, v in run_tags(report).items()]
                },
            }
            answer = self._mutate(LAUNCH, {"executionParams": params}, "launchRun")
            return str(answer["run"]["runId"])
        except Exception as error:  # any failure to reach Dagster leaves it to the sensor
            self._log_unreachable(f"launch report {report.id}", error)
            return None

    def terminate(self, run_id: str) -> None:
        """Ask Dagster to stop a canceled report's run now; the reconciler does it on its
        next tick if Dagster cannot be reached."""
        try:
            self._mutate(TERMINATE, {"runId": run_id}, "terminateRun")
        except Exception as error:
            self._log_unreachable(f"terminate run {run_id}", error)

    def ping(self) -> None:
        """Raises unless the Dagster webserver answers."""
        httpx.get(f"{self.url}/server_info", timeout=2).raise_for_status()

    def _job_selector(self) -> dict[str, str]:
        found = self._graphql(FIND_JOB, {})["repositoriesOrError"]
        for repository in found.get("nodes", []):
            if any(job["name"] == JOB_NAME for job in repository["pipelines"]):
                return {
                    "repositoryLocationName": repository["location"]["name"],
                    "repositoryName": repository["name"],
                    "pipelineName": JOB_NAME,
                }
        raise DagsterUnavailable(f"no code location has the {JOB_NAME} job loaded")

    def _mutate(self, document: str, variables: dict[str, Any], field: str) -> dict[str, Any]:
        """The mutation's answer if it is the `…Success` type; raises with its message."""
        answer: dict[str, Any] = self._graphql(document, variables)[field]
        if not answer["__typename"].endswith("RunSuccess"):
            raise DagsterUnavailable(f"{answer['__typename']}: {answer.get('message', '')}")
        return answer

    def _graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables},
            timeout=self.timeout_s,
        )
        answer.raise_for_status()
        document = answer.json()
        if document.get("errors"):
            raise DagsterUnavailable(document["errors"][0].get("message", "GraphQL error"))
        data: dict[str, Any] = document["data"]
        return data

    @staticmethod
    def _log_unreachable(what: str, error: Exception) -> None:
        first_line = (str(error).splitlines() or [""])[0][:200]
        log.warning(
            "could not %s now (%s: %s); the reconciler will", what, type(error).__name__, first_line
        )
