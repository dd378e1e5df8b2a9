"""No write crosses organisations: for every endpoint that changes something, an outsider
using another organisation's id changes nothing, read back from the owner's side (the
status code alone would not show a write that happened behind a 404)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reports_pipeline.job_table import JobTable
from tests.conftest import auth
from tests.test_webhooks import Receiver, completed, receiver, receivers  # noqa: F401

OWNER, OUTSIDER = "org_001", "org_002"
ROOT = "/api/wp-crm/reports"


def as_outsider(api: TestClient, method: str, tail: str) -> None:
    """The outsider's call, on its own organisation's path and on the owner's: both 404."""
    for org in (OUTSIDER, OWNER):
        answer = api.request(method, f"{ROOT}/{org}{tail}", headers=auth(OUTSIDER))
        assert answer.status_code in (403, 404), (org, answer.status_code, answer.text)


def owners_view(api: TestClient, tail: str) -> Any:
    answer = api.get(f"{ROOT}/{OWNER}{tail}", headers=auth(OWNER))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_foreign_cancel_leaves_the_report_pending(api: TestClient) -> None:
    made = api.post(f"{ROOT}/{OWNER}", json={"type": "ticket"}, headers=auth(OWNER)).json()
    before = owners_view(api, f"/{made['id']}")
    as_outsider(api, "POST", f"/{made['id']}/cancel")
    assert owners_view(api, f"/{made['id']}") == before
    assert before["status"] == "pending"


SCHEDULE = {"name": "Mine", "cron": "0 6 1 * *", "type": "chat"}
Change = Callable[[TestClient, str], None]


@pytest.mark.parametrize("action", ["pause", "resume", "delete"])
def test_a_foreign_schedule_change_changes_nothing(api: TestClient, action: str) -> None:
    made = api.post(f"{ROOT}/{OWNER}/schedules", json=SCHEDULE, headers=auth(OWNER)).json()
    tail = f"/schedules/{made['id']}"
    if action == "resume":  # resuming moves the next due time: start from a paused one
        api.post(f"{ROOT}/{OWNER}{tail}/pause", headers=auth(OWNER)).raise_for_status()
    before = owners_view(api, tail)
    if action == "delete":
        as_outsider(api, "DELETE", tail)
    else:
        as_outsider(api, "POST", f"{tail}/{action}")
    assert owners_view(api, tail) == before


def test_a_foreign_webhook_delete_leaves_its_pending_deliveries_alone(
    api: TestClient,
    job_table: JobTable,
    receivers: list[Receiver],  # noqa: F811
) -> None:
    endpoint = receiver(receivers)
    hook = api.post(
        f"{ROOT}/{OWNER}/webhooks",
        json={"url": endpoint.url, "events": ["report.completed"]},
        headers=auth(OWNER),
    ).json()
    completed(job_table, OWNER)  # queues a delivery to the owner's endpoint
    tail = f"/webhooks/{hook['id']}"
    (pending,) = owners_view(api, f"{tail}/deliveries")["items"]
    assert pending["state"] == "pending"
    as_outsider(api, "DELETE", tail)
    assert owners_view(api, f"{tail}/deliveries")["items"] == [pending]
    assert [h["id"] for h in owners_view(api, "/webhooks")["items"]] == [hook["id"]]
    assert endpoint.received.empty()
