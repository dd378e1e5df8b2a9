"""Faults through the whole stack: nothing lost, statuses stay true (issue: faults)."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest
from dagster import DagsterEventType, DagsterInstance, RunsFilter

from devstack import Stack
from reports_pipeline.contract import TAG_REPORT_ID
from tests.conftest import BIG_ORG, auth
from tests.eventually import eventually
from tests.test_e2e import report_of, runs_of, wait_for

pytestmark = pytest.mark.e2e


def request(stack: Stack, org: str, body: dict) -> str:
    answer = httpx.post(f"{stack.api_url}/api/wp-crm/reports/{org}", json=body, headers=auth(org))
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


# How long a run may take to be launched and claim its report: the daemon's queue, the
# code server's start and the run's imports, on two cores shared with the whole stack.
LAUNCH_WAIT_S = 300


def wait_until_writing(stack: Stack, org: str, report_id: str, *, rows: bool = True) -> dict:
    def writing() -> dict | None:
        report = report_of(stack, org, report_id)
        assert report["status"] in ("pending", "processing"), report
        started = report["status"] == "processing" and (report["rows_written"] > 0 or not rows)
        return report if started else None

    return eventually(writing, "the export starts writing", timeout_s=LAUNCH_WAIT_S, every_s=0.2)


def run_worker_pid(stack: Stack, report_id: str) -> int:
    """The process running this report's export: the code server records its pid in the
    run's event log as it starts it ("Started process for run (pid: …)")."""
    with DagsterInstance.from_config(str(stack.dagster_home)) as instance:

        def recorded() -> int | None:
            runs = instance.get_runs(filters=RunsFilter(tags={TAG_REPORT_ID: report_id}))
            if not runs:
                return None  # not launched yet
            (run,) = runs
            for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):
                if entry.message.startswith("Started process for run"):
                    event = entry.dagster_event
                    assert event is not None
                    return int(event.engine_event_data.metadata["pid"].value)  # type: ignore[arg-type]
            return None

        return eventually(
            recorded, "the report's run worker is recorded", timeout_s=LAUNCH_WAIT_S, every_s=0.2
        )


def s3(stack: Stack):  # type: ignore[no-untyped-def]
    return stack.s3_client()


def open_uploads(stack: Stack, prefix: str) -> list:
    client = s3(stack)
    return client.list_multipart_uploads(Bucket=stack.bucket, Prefix=prefix).get("Uploads", [])


def objects(stack: Stack, prefix: str) -> list:
    client = s3(stack)
    return client.list_objects_v2(Bucket=stack.bucket, Prefix=prefix).get("Contents", [])


def test_a_killed_run_worker_fails_the_report_and_leaves_nothing(e2e_stack: Stack) -> None:
    report_id = request(e2e_stack, BIG_ORG, {"type": "chat"})
    # Kill as soon as the run has claimed the report: the whole export is still ahead.
    report = wait_until_writing(e2e_stack, BIG_ORG, report_id, rows=False)
    os.kill(run_worker_pid(e2e_stack, report_id), signal.SIGKILL)
    killed_at = time.monotonic()

    failed = wait_for(e2e_stack, BIG_ORG, report_id, {"failed", "completed"})
    assert failed["status"] == "failed"
    assert time.monotonic() - killed_at < 60
    assert failed["error"] == (
        "The export run stopped unexpectedly before finishing. Please request it again."
    )
    assert failed["rows_written"] >= report["rows_written"]
    prefix = f"reports/{BIG_ORG}/{report_id}/"
    assert objects(e2e_stack, prefix) == []
    assert open_uploads(e2e_stack, prefix) == []
    base = f"{e2e_stack.api_url}/api/wp-crm/reports/{BIG_ORG}"
    again = httpx.post(base, json={"type": "chat"}, headers=auth(BIG_ORG))
    assert again.status_code == 202
    # Not needed to the end: free the type for the tests after this one.
    assert httpx.post(f"{base}/{again.json()['id']}/cancel", headers=auth(BIG_ORG)).is_success


def test_an_api_restart_mid_export_loses_nothing(e2e_stack: Stack) -> None:
    report_id = request(e2e_stack, BIG_ORG, {"type": "ticket"})
    wait_until_writing(e2e_stack, BIG_ORG, report_id, rows=False)
    e2e_stack.stop_process("api")
    e2e_stack.start_api()
    report = wait_for(e2e_stack, BIG_ORG, report_id, {"completed", "failed"})
    assert report["status"] == "completed", report["error"]
    assert report["row_count"] == report["rows_written"] > 0
    assert runs_of(e2e_stack, report_id) == 1
    link = httpx.get(
        f"{e2e_stack.api_url}/api/wp-crm/reports/{BIG_ORG}/{report_id}/download",
        headers=auth(BIG_ORG),
    ).json()
    assert httpx.get(link["url"]).content.count(b"\r\n") == report["row_count"] + 1


def test_an_s3_server_that_pauses_and_comes_back_still_gets_the_whole_file(
    e2e_stack: Stack,
) -> None:
    server = e2e_stack.processes["s3"]
    report_id = request(e2e_stack, BIG_ORG, {"type": "contact"})
    wait_until_writing(e2e_stack, BIG_ORG, report_id, rows=False)
    os.kill(server.pid, signal.SIGSTOP)  # the store stops answering (connections hang) ...
    time.sleep(8)
    os.kill(server.pid, signal.SIGCONT)  # ... and comes back inside the client's timeouts
    report = wait_for(e2e_stack, BIG_ORG, report_id, {"completed", "failed"})
    assert report["status"] == "completed", report["error"]
    link = httpx.get(
        f"{e2e_stack.api_url}/api/wp-crm/reports/{BIG_ORG}/{report_id}/download",
        headers=auth(BIG_ORG),
    ).json()
    body = httpx.get(link["url"]).content
    assert len(body) == report["file_size_bytes"]
    assert body.count(b"\r\n") >= report["row_count"] + 1


def test_cancel_stops_a_running_export_and_leaves_nothing(e2e_stack: Stack) -> None:
    report_id = request(e2e_stack, BIG_ORG, {"type": "chat"})
    wait_until_writing(e2e_stack, BIG_ORG, report_id, rows=False)
    base = f"{e2e_stack.api_url}/api/wp-crm/reports/{BIG_ORG}"
    answer = httpx.post(f"{base}/{report_id}/cancel", headers=auth(BIG_ORG, sub="canceler"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "canceled"
    assert answer.json()["canceled_by"]["id"] == "canceler"

    # The run is terminated and its partial upload discarded; the report stays canceled.
    prefix = f"reports/{BIG_ORG}/{report_id}/"

    def cleaned_up() -> bool:
        ended = run_statuses(e2e_stack, report_id) <= {"CANCELED", "FAILURE"}
        return ended and not open_uploads(e2e_stack, prefix) and not objects(e2e_stack, prefix)

    eventually(cleaned_up, "the run ends and its partial upload is removed")
    report = httpx.get(f"{base}/{report_id}", headers=auth(BIG_ORG)).json()
    assert (report["status"], report["row_count"], report["error"]) == ("canceled", None, None)
    again = httpx.post(base, json={"type": "chat"}, headers=auth(BIG_ORG))
    assert again.status_code == 202  # a canceled export does not block a new one
    assert httpx.post(f"{base}/{again.json()['id']}/cancel", headers=auth(BIG_ORG)).is_success


def run_statuses(stack: Stack, report_id: str) -> set[str]:
    with DagsterInstance.from_config(str(stack.dagster_home)) as instance:
        runs = instance.get_runs(filters=RunsFilter(tags={TAG_REPORT_ID: report_id}))
        return {run.status.value for run in runs}


def test_a_killed_daemon_leaves_no_run_worker_behind_a_stop(e2e_stack: Stack) -> None:
    """The daemon's code server starts each run worker in the daemon's process group: after
    the daemon itself is killed, stopping it still ends the worker (the attack run found
    one running on outside a stopped stack)."""
    store = e2e_stack.processes["s3"]
    os.kill(store.pid, signal.SIGSTOP)  # the run cannot finish its file: it stays running
    try:
        report_id = request(e2e_stack, BIG_ORG, {"type": "message"})
        worker = run_worker_pid(e2e_stack, report_id)
        daemon = e2e_stack.processes["dagster-daemon"]
        assert os.getpgid(worker) == daemon.pid  # the daemon's group
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=30)
        os.kill(worker, 0)  # the leader is gone; the worker runs on
        e2e_stack.stop_process("dagster-daemon")
        with pytest.raises(ProcessLookupError):
            os.kill(worker, 0)
    finally:
        os.kill(store.pid, signal.SIGCONT)
        e2e_stack.processes.pop("dagster-daemon", None)
        e2e_stack.start_daemon()
    base = f"{e2e_stack.api_url}/api/wp-crm/reports/{BIG_ORG}"
    httpx.post(f"{base}/{report_id}/cancel", headers=auth(BIG_ORG))  # frees the type
    done = wait_for(e2e_stack, BIG_ORG, report_id, {"failed", "canceled", "completed"})
    assert done["status"] in ("failed", "canceled")
