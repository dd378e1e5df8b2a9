"""The whole stack as `make up` runs it: API, job table on PostgreSQL, Dagster webserver and
daemon (queued runs, sensors), and the S3 server."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import httpx
import pytest
from dagster import DagsterInstance, RunsFilter

from devstack import Stack
from reports_pipeline.contract import TAG_ORGANISATION, TAG_REPORT_ID, TAG_TYPE
from tests.conftest import auth
from tests.eventually import eventually

pytestmark = pytest.mark.e2e


def report_of(stack: Stack, org: str, report_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{stack.api_url}/api/wp-crm/reports/{org}/{report_id}", headers=auth(org))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def wait_for(stack: Stack, org: str, report_id: str, states: set[str]) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        report = report_of(stack, org, report_id)
        return report if report["status"] in states else None

    return eventually(reached, f"report {report_id} reaches {sorted(states)}")


def runs_of(stack: Stack, report_id: str) -> int:
    with DagsterInstance.from_config(str(stack.dagster_home)) as instance:
        return len(instance.get_runs(filters=RunsFilter(tags={TAG_REPORT_ID: report_id})))


def finished_run(stack: Stack, **tags: str) -> Any:
    """The newest Dagster run with these tags, once it has finished."""

    def finished() -> Any:
        with DagsterInstance.from_config(str(stack.dagster_home)) as instance:
            runs = instance.get_runs(filters=RunsFilter(tags=tags), limit=1)
        return runs[0] if runs and runs[0].is_finished else None

    return eventually(finished, f"a finished run tagged {tags}")


def graphql(stack: Stack, query: str, **variables: Any) -> dict[str, Any]:
    # A launch may wait on the code server, which shares two cores with the whole suite.
    answer = httpx.post(
        f"{stack.dagster_url}/graphql", json={"query": query, "variables": variables}, timeout=60
    )
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    assert "errors" not in body, body
    return dict(body["data"])


SENSOR_TICKS = """
query ($selector: SensorSelector!, $after: Float!) {
  sensorOrError(sensorSelector: $selector) {
    ... on Sensor { sensorState { ticks(afterTimestamp: $after, limit: 10) { status } } }
  }
}"""


def sensor_evaluated_since(stack: Stack, sensor: str, since: float) -> None:
    """Returns once the daemon has finished a tick of `sensor` that began after `since`
    (a Unix time): that tick saw everything the job table held at `since`."""
    selector = {
        "repositoryLocationName": "reports",
        "repositoryName": "__repository__",
        "sensorName": sensor,
    }

    def evaluated() -> bool:
        found = graphql(stack, SENSOR_TICKS, selector=selector, after=since)["sensorOrError"]
        return any(t["status"] != "STARTED" for t in found["sensorState"]["ticks"])

    eventually(evaluated, f"a tick of {sensor} after {since}")


def test_a_ticket_export_runs_through_the_daemon_and_downloads(e2e_stack: Stack) -> None:
    api = e2e_stack.api_url
    body = {
        "type": "ticket",
        "filters": {"priorities": {"values": ["high"]}},
        "timezone": "Asia/Kolkata",
    }
    posted = httpx.post(f"{api}/api/wp-crm/reports/org_001", json=body, headers=auth())
    assert posted.status_code == 202, posted.text
    report = wait_for(e2e_stack, "org_001", posted.json()["id"], {"completed", "failed"})
    assert report["status"] == "completed", report["error"]
    assert report["row_count"] == report["rows_written"] > 0
    link = httpx.get(
        f"{api}/api/wp-crm/reports/org_001/{report['id']}/download", headers=auth()
    ).json()
    assert link["file_name"] == report["file_name"]
    fetched = httpx.get(link["url"])
    rows = list(csv.reader(io.StringIO(fetched.content.decode("utf-8-sig"), newline="")))
    assert rows[0][:3] == ["Ticket ID", "Chat ID", "Contact ID"]
    assert len(rows) - 1 == report["row_count"]
    assert {r[6] for r in rows[1:]} == {"high"}
    assert runs_of(e2e_stack, report["id"]) == 1
    run = finished_run(e2e_stack, **{TAG_REPORT_ID: report["id"]})
    assert "dagster/sensor_name" not in run.tags  # the API launched it, not the reconciler
    assert run.tags[TAG_TYPE] == "ticket" and run.tags[TAG_ORGANISATION] == "org_001"
    ready = httpx.get(f"{api}/readyz").json()
    assert ready == {
        "status": "ready",
        "checks": {"job_table": "ok", "object_store": "ok", "dagster": "ok"},
    }


def test_a_request_made_while_dagster_is_down_runs_once_it_is_back(e2e_stack: Stack) -> None:
    e2e_stack.stop_dagster()
    try:
        posted = httpx.post(
            f"{e2e_stack.api_url}/api/wp-crm/reports/org_002",
            json={"type": "call_log"},
            headers=auth("org_002"),
        )
        assert posted.status_code == 202
        report_id = posted.json()["id"]
        # Only a Dagster run can claim a report, so it stays pending while Dagster is down.
        assert report_of(e2e_stack, "org_002", report_id)["status"] == "pending"
    finally:
        e2e_stack.start_dagster()
    report = wait_for(e2e_stack, "org_002", report_id, {"completed", "failed"})
    assert report["status"] == "completed", report["error"]
    # The reconciler, evaluating the finished report again, does not launch it again.
    sensor_evaluated_since(e2e_stack, "reconcile_reports", time.time())
    assert runs_of(e2e_stack, report_id) == 1


def test_a_request_head_of_256_kib_is_refused_and_the_api_keeps_serving(
    e2e_stack: Stack,
) -> None:
    huge = {"Authorization": "Bearer " + "a" * 256 * 1024}
    try:  # refused by the HTTP parser, before the app: an error answer, or a closed line
        answer = httpx.get(f"{e2e_stack.api_url}/api/wp-crm/reports/org_001", headers=huge)
        assert answer.status_code in (400, 431)
    except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
        pass
    assert httpx.get(f"{e2e_stack.api_url}/healthz").status_code == 200
