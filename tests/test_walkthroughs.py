"""What the docs tell a user to run, run against the whole stack: the curl walkthrough, the
Python example, and a client generated from the OpenAPI document doing one whole export.
They share their organisation only with the Dagster UI tests, which may run just before them
on the same stack (one xdist worker), so the generated client asks for a type those leave
alone: the rate limit holds back a second export of a type for five minutes."""

from __future__ import annotations

import csv
import importlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack import BIN, REPO, Stack
from tests.conftest import token
from tests.eventually import eventually

pytestmark = pytest.mark.e2e
ORG = "org_004"
API_DOCS = (REPO / "docs" / "api.md").read_text()


def block(language: str, containing: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", API_DOCS, re.S)
    return next(b for b in blocks if containing in b)


def user_env(stack: Stack) -> dict[str, str]:
    return {
        **os.environ,
        "BASE": f"{stack.api_url}/api/wp-crm/reports/{ORG}",
        "TOKEN": token(ORG, "admin", "docs-reader"),
    }


def test_the_curl_walkthrough_runs(e2e_stack: Stack, tmp_path: Path) -> None:
    script = block("bash", "ID=$(curl")
    done = subprocess.run(  # noqa: S603 - the docs' own example
        ["bash", "-euo", "pipefail", "-c", script],
        env=user_env(e2e_stack),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "tickets.csv").read_bytes().startswith(b"\xef\xbb\xbfTicket ID,")
    assert done.stdout.strip().splitlines()[-1] == '"completed"'


def test_the_python_example_runs(e2e_stack: Stack, tmp_path: Path) -> None:
    done = subprocess.run(  # noqa: S603 - the docs' own example
        [sys.executable, "-c", block("python", "import httpx")],
        env=user_env(e2e_stack),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("completed ")
    saved = next(tmp_path.glob("call-log-report-*.csv"))
    rows = list(csv.reader(io.StringIO(saved.read_text("utf-8-sig"), newline="")))
    assert rows[0][:2] == ["Call ID", "Direction"] and {r[1] for r in rows[1:]} <= {"inbound"}


def test_a_generated_client_does_a_whole_export(e2e_stack: Stack, tmp_path: Path) -> None:
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(httpx.get(f"{e2e_stack.api_url}/openapi.json").json()))
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    subprocess.run(  # noqa: S603 - a dev tool of this project
        [str(BIN / "openapi-python-client"), "generate", "--path", str(spec)]
        + ["--output-path", str(tmp_path / "reports_client"), "--meta", "none"],
        check=True,
        env=env,
        capture_output=True,
        timeout=180,
    )
    sys.path.insert(0, str(tmp_path))
    try:
        client_module = importlib.import_module("reports_client")
        operations = ("request_export", "get_export", "download_export")
        api = {op: importlib.import_module(f"reports_client.api.reports.{op}") for op in operations}
        models = importlib.import_module("reports_client.models")
        client = client_module.AuthenticatedClient(
            base_url=e2e_stack.api_url, token=token(ORG, "admin", "generated-client")
        )
        # Goal: the one type no other end-to-end test exports for this organisation, so the
        # rate limit (five minutes per type) never depends on which tests ran before.
        body = models.GoalReportCreate.from_dict(
            {
                "type": "goal",
                "filters": {"event_date": {"from": "2026-06-01"}},
                "purpose": "client test",
            }
        )
        created = api["request_export"].sync(organisation_id=ORG, client=client, body=body)
        assert isinstance(created, models.ReportCreated), created
        unfinished = (models.Status.PENDING, models.Status.PROCESSING)

        def finished() -> Any:
            found = api["get_export"].sync(organisation_id=ORG, report_id=created.id, client=client)
            return None if found.status in unfinished else found

        report = eventually(finished, "the generated client sees the export finish")
        assert report.status == models.Status.COMPLETED, report.error
        assert report.purpose == "client test"
        link = api["download_export"].sync(organisation_id=ORG, report_id=created.id, client=client)
        assert isinstance(link, models.DownloadPublic)
        text = httpx.get(link.url).content.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert rows[0][0] == "Chat ID" and len(rows) == report.row_count + 1 > 1
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith("reports_client")]:
            del sys.modules[name]
