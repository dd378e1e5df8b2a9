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
from reports_pipeline.export import TAG_REPORT_ID
from tests.conftest import auth

pytestmark = pytest.mark.e2e
TIMEOUT_S = 120


def wait_for(stack: Stack, org: str, report_id: str, states: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        report = httpx.get(
            f"{stack.api_url}/api/wp-crm/reports/{org}/{report_id}", headers=auth(org)
        ).json()
        if report["status"] in states:
            return report
        time.sleep(1)
    raise AssertionError(f"report {report_id} stayed {report['status']}")


def runs_of(stack: Stack, report_id: str) -> int:
    with DagsterInstance.from_config(str(stack.dagster_home)) as instance:
        return len(instance.get_runs(filters=RunsFilter(tags={TAG_REPORT_ID: report_id})))


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
        time.sleep(3)
        report_id = posted.json()["id"]
        pending = httpx.get(
            f"{e2e_stack.api_url}/api/wp-crm/reports/org_002/{report_id}", headers=auth("org_002")
        ).json()
        assert pending["status"] == "pending"
    finally:
        e2e_stack.start_dagster()
    report = wait_for(e2e_stack, "org_002", report_id, {"completed", "failed"})
    assert report["status"] == "completed", report["error"]
    time.sleep(6)  # another sensor tick: it must not launch the request again
    assert runs_of(e2e_stack, report_id) == 1
