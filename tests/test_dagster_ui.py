"""The Dagster UI as a data engineer uses it, against the whole stack: an export shows up
on its asset, the replica's checks run and show, and a failed run says why. Screenshots
go to artifacts/screenshots/."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from dagster import DagsterInstance, DagsterRunStatus
from playwright.sync_api import Page, expect

from devstack import Stack
from reports_pipeline.contract import TAG_OUTCOME, TAG_REPORT_ID, run_config, run_tags
from reports_pipeline.job_table import JobTable, Requester, make_engine
from reports_pipeline.lifecycle import Lifecycle
from reports_pipeline.request import parse_request
from tests.conftest import SHOTS, auth
from tests.eventually import eventually
from tests.test_e2e import finished_run, graphql, wait_for
from warehouse.invariants import INVARIANTS

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
ORG = "org_004"  # an organisation the other end-to-end tests leave alone

MATERIALIZATIONS = """
query ($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) {
    ... on Asset {
      assetMaterializations(limit: 20) {
        partition
        metadataEntries { label ... on TextMetadataEntry { text } }
      }
    }
  }
}"""


def open_ui(page: Page, stack: Stack, path: str) -> None:
    page.goto(f"{stack.dagster_url}{path}")
    page.wait_for_load_state("networkidle")
    skip = page.get_by_role("button", name="Skip")  # Dagster's first-visit newsletter prompt
    if skip.is_visible():
        skip.click()


def test_an_export_shows_on_its_asset_next_to_the_tables_it_read(
    page: Page, e2e_stack: Stack
) -> None:
    api = f"{e2e_stack.api_url}/api/wp-crm/reports/{ORG}"
    posted = httpx.post(api, json={"type": "contact", "format": "parquet"}, headers=auth(ORG))
    assert posted.status_code == 202, posted.text
    report = wait_for(e2e_stack, ORG, posted.json()["id"], {"completed", "failed"})
    assert report["status"] == "completed", report["error"]
    # The job table says completed first; the run records the materialization just after,
    # and it is in the asset's history by the time the run has finished.
    run = finished_run(e2e_stack, **{TAG_REPORT_ID: report["id"]})
    assert run.status is DagsterRunStatus.SUCCESS
    data = graphql(e2e_stack, MATERIALIZATIONS, path=["exports", "contact"])
    events = data["assetOrError"]["assetMaterializations"]
    mine = [
        e for e in events if {"label": "report_id", "text": report["id"]} in e["metadataEntries"]
    ]
    assert len(mine) == 1 and mine[0]["partition"] == ORG

    open_ui(page, e2e_stack, "/assets/exports/contact?view=lineage")
    expect(page.get_by_text("custom_fields").first).to_be_visible(timeout=30_000)
    page.screenshot(path=SHOTS / "dagster-1-export-lineage.png", full_page=True)


def test_the_replica_checks_run_and_show_on_each_table(page: Page, e2e_stack: Stack) -> None:
    launched = graphql(
        e2e_stack,
        """mutation ($params: ExecutionParams!) {
             launchRun(executionParams: $params) {
               __typename ... on LaunchRunSuccess { run { runId } }
               ... on PythonError { message } } }""",
        params={
            "selector": {
                "repositoryLocationName": "reports",
                "repositoryName": "__repository__",
                "jobName": "check_replica",
            },
            "runConfigData": "{}",
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    with DagsterInstance.from_config(str(e2e_stack.dagster_home)) as instance:

        def finished() -> Any:
            run = instance.get_run_by_id(run_id)
            return run if run and run.is_finished else None

        run = eventually(finished, "the check run finishes")
        assert run.status is DagsterRunStatus.SUCCESS
        evaluations = [
            event.dagster_event.event_specific_data
            for event in instance.all_logs(run_id)
            if event.dagster_event
            and event.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
        ]
    # Every invariant holds on the stack's replica (ids repeat across organisations there).
    assert len(evaluations) == len(INVARIANTS) and all(e.passed for e in evaluations)
    open_ui(page, e2e_stack, "/assets/replica/chats?view=checks")
    expect(page.get_by_text("chat_id_is_unique").first).to_be_visible(timeout=30_000)
    page.screenshot(path=SHOTS / "dagster-2-replica-checks.png", full_page=True)


def test_a_failed_run_says_why_in_the_ui(page: Page, e2e_stack: Stack) -> None:
    # A report whose stored request the run cannot read, launched as the API launches.
    engine = make_engine(str(e2e_stack.database_url))
    report = Lifecycle(engine).request(
        ORG, parse_request({"type": "ticket"}), Requester("ana", name="Ana Admin")
    )
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE reports SET request = %s WHERE id = %s",
            (json.dumps({"type": "ticket", "oops": 1}), report.id),
        )
    graphql(
        e2e_stack,
        """mutation ($params: ExecutionParams!) {
             launchRun(executionParams: $params) { __typename } }""",
        params={
            "selector": {
                "repositoryLocationName": "reports",
                "repositoryName": "__repository__",
                "jobName": "export_report",
            },
            "runConfigData": json.dumps(run_config(report.id)),
            "executionMetadata": {
                "tags": [{"key": k, "value": v} for k, v in run_tags(report).items()]
            },
        },
    )
    run = finished_run(e2e_stack, **{TAG_REPORT_ID: report.id})
    failed = JobTable(engine).get_by_id(report.id)
    assert (
        failed is not None
        and failed.error
        and failed.error.startswith("the stored request is not valid")
    )
    assert run.status is DagsterRunStatus.FAILURE
    assert run.tags[TAG_OUTCOME] == failed.error[:200]
    assert run.tags["reports/requested_by_name"] == "Ana Admin"
    engine.dispose()
    open_ui(page, e2e_stack, f"/runs/{run.run_id}")
    expect(page.get_by_text("did not complete").first).to_be_visible(timeout=30_000)
    page.screenshot(path=SHOTS / "dagster-3-failed-run.png", full_page=True)
    # The API tells the admin the same reason.
    answer = httpx.get(
        f"{e2e_stack.api_url}/api/wp-crm/reports/{ORG}/{report.id}", headers=auth(ORG)
    )
    assert answer.json()["error"] == failed.error
