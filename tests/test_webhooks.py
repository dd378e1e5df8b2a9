"""Signed completion webhooks, delivered to real HTTP receivers on loopback (issue: exports
that come by themselves)."""

from __future__ import annotations

import itertools
import json
import queue
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from devstack import REPO
from reports_pipeline.job_table import JobTable, Requester, utcnow
from reports_pipeline.lifecycle import Lifecycle
from reports_pipeline.protection import PasswordBox
from reports_pipeline.request import parse_request
from reports_pipeline.sensors import report_payload
from reports_pipeline.settings import LOCAL_FILE_PASSWORD_KEY
from reports_pipeline.storage import StoredObject
from reports_pipeline.webhooks import UnsafeEndpoint, WebhookCreate, Webhooks, check_endpoint
from tests.conftest import auth, token


class Backlogged(ThreadingHTTPServer):
    # The default backlog of 5 refuses connections when the webhook senders all connect
    # at once on a loaded machine.
    request_queue_size = 128


class Receiver:
    """An HTTP endpoint on loopback that records deliveries and answers from a script."""

    def __init__(
        self,
        answers: list[int] | None = None,
        hold: threading.Event | None = None,
        answer_after_s: float = 0.0,
    ):
        self.answers, self.hold = list(answers or []), hold
        self.received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.put((dict(self.headers), body))
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                time.sleep(answer_after_s)  # a slow receiver, not a wait of the test's
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = Backlogged(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def close(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()


def receiver(receivers: list[Receiver], **kwargs: Any) -> Receiver:
    receivers.append(Receiver(**kwargs))
    return receivers[-1]


def book(job_table: JobTable, *, local: bool = True) -> Webhooks:
    return Webhooks(job_table.engine, PasswordBox(LOCAL_FILE_PASSWORD_KEY), local=local)


def completed(job_table: JobTable, org: str = "org_001") -> str:
    """A report through request, claim and complete: the move that queues the event."""
    lifecycle = Lifecycle(job_table.engine)
    report = lifecycle.request(org, parse_request({"type": "ticket"}), Requester("u-1"))
    assert lifecycle.claim(report.id, "run-1")
    stored = StoredObject(f"{report.store_prefix}t.csv", 5, "", "", None)
    assert lifecycle.complete(report.id, "run-1", row_count=1, file_name="t.csv", stored=stored)
    return report.id


def documented_verify() -> Any:
    """The verification snippet of docs/api.md, as a reader would paste it."""
    text = (REPO / "docs" / "api.md").read_text()
    (snippet,) = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "def verify(" in b]
    scope: dict[str, Any] = {}
    exec(snippet, scope)  # noqa: S102 - our own documentation
    return scope["verify"]


def test_a_delivery_verifies_with_the_documented_snippet(
    job_table: JobTable, receivers: list[Receiver]
) -> None:
    hooks, endpoint = book(job_table), receiver(receivers)
    _, secret = hooks.register(
        "org_001", WebhookCreate(url=endpoint.url, events=["report.completed"]), Requester("u")
    )
    report_id = completed(job_table)
    (attempt,) = hooks.deliver_due(report_payload(job_table))
    assert (attempt.status_code, attempt.error) == (200, None)
    headers, body = endpoint.received.get_nowait()
    verify = documented_verify()
    assert verify(secret, headers["X-Reports-Signature"], body)
    assert not verify(secret, headers["X-Reports-Signature"], body + b" ")
    assert not verify("whsec_other", headers["X-Reports-Signature"], body)
    delivered = json.loads(body)
    assert delivered["event"] == headers["X-Reports-Event"] == "report.completed"
    assert delivered["id"] == headers["X-Reports-Event-Id"]
    assert delivered["report"]["id"] == report_id
    assert delivered["report"]["status"] == "completed"


def test_an_endpoint_answering_500_then_200_gets_the_event_on_retry(
    job_table: JobTable, receivers: list[Receiver]
) -> None:
    hooks, endpoint = book(job_table), receiver(receivers, answers=[500, 200])
    webhook, _ = hooks.register(
        "org_001", WebhookCreate(url=endpoint.url, events=["report.completed"]), Requester("u")
    )
    completed(job_table)
    now = utcnow()
    payload = report_payload(job_table)
    assert [a.status_code for a in hooks.deliver_due(payload, now)] == [500]
    assert hooks.deliver_due(payload, now + timedelta(seconds=29)) == []  # not yet due
    assert [a.status_code for a in hooks.deliver_due(payload, now + timedelta(seconds=31))] == [200]
    (delivery,) = hooks.deliveries_of(webhook.organisation_id, webhook.id)
    assert delivery.state == "delivered"
    assert [(a.number, a.status_code) for a in delivery.attempts] == [(1, 500), (2, 200)]
    first, second = endpoint.received.get_nowait(), endpoint.received.get_nowait()
    assert first[0]["X-Reports-Event-Id"] == second[0]["X-Reports-Event-Id"] == delivery.id


def test_retries_stop_24_hours_after_the_event(
    job_table: JobTable, receivers: list[Receiver]
) -> None:
    hooks, endpoint = book(job_table), receiver(receivers, answers=[503] * 40)
    webhook, _ = hooks.register(
        "org_001", WebhookCreate(url=endpoint.url, events=["report.completed"]), Requester("u")
    )
    completed(job_table)
    payload, at = report_payload(job_table), utcnow()
    for _ in range(40):
        hooks.deliver_due(payload, at)
        (delivery,) = hooks.deliveries_of(webhook.organisation_id, webhook.id)
        if delivery.next_attempt_at is None:
            break
        at = delivery.next_attempt_at
    assert delivery.state == "failed"
    times = [attempt.attempted_at for attempt in delivery.attempts]
    waits = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert waits[:3] == [timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2)]
    assert max(waits) == timedelta(hours=2)
    assert delivery.attempts[-1].attempted_at - delivery.created_at <= timedelta(hours=24)


def test_a_hanging_endpoint_does_not_hold_up_another_organisations_delivery(
    job_table: JobTable, receivers: list[Receiver]
) -> None:
    hooks = book(job_table)
    release = threading.Event()
    stuck = receiver(receivers, hold=release)
    healthy = receiver(receivers)
    for org, endpoint in (("org_001", stuck), ("org_002", healthy)):
        hooks.register(
            org, WebhookCreate(url=endpoint.url, events=["report.completed"]), Requester("u")
        )
        completed(job_table, org)
    tick = threading.Thread(target=hooks.deliver_due, args=(report_payload(job_table),))
    tick.start()
    try:
        stuck.received.get(timeout=10)  # the stuck endpoint has its request and holds it
        headers, _ = healthy.received.get(timeout=3)  # the other one is served meanwhile
        assert headers["X-Reports-Event"] == "report.completed"
    finally:
        release.set()
        tick.join()


def test_no_tick_runs_past_its_budget_and_every_delivery_still_happens(
    job_table: JobTable, receivers: list[Receiver]
) -> None:
    hooks, slow = book(job_table), receiver(receivers, answer_after_s=0.25)
    for _ in range(500):
        hooks.register(
            "org_001", WebhookCreate(url=slow.url, events=["report.completed"]), Requester("u")
        )
    completed(job_table)  # one event, 500 due deliveries
    payload, budget_s, ticks, tried = report_payload(job_table), 6.0, [], 0
    while tried < 500 and len(ticks) < 60:
        started = time.monotonic()
        attempts = hooks.deliver_due(payload, budget_s=budget_s)
        ticks.append(time.monotonic() - started)
        assert [a.error for a in attempts if a.error] == []
        tried += len(attempts)
    assert tried == 500 and slow.received.qsize() == 500  # each delivered once
    assert max(ticks) < budget_s + 1.0  # attempts start only while they can end in time
    assert len(ticks) > 1  # the budget did end ticks with deliveries left for the next


def resolving_to(address: str) -> Any:
    def getaddrinfo(host: str, port: object, *args: object, **kwargs: object) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 443))]

    return getaddrinfo


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",  # not HTTPS
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://192.168.0.10/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "https://[fd00:ec2::254]/x",
        "https://224.0.0.1/x",  # multicast
        "https://[::ffff:127.0.0.1]/x",  # IPv4-mapped loopback
        "https://[::127.0.0.1]/x",  # IPv4-compatible loopback
        "https://[64:ff9b::7f00:1]/x",  # NAT64 of loopback
        "https://[64:ff9b::a9fe:a9fe]/x",  # NAT64 of the metadata address
        "https://[64:ff9b:1::a00:1]/x",  # local-use NAT64 prefix
        "https://[2002:7f00:1::]/x",  # 6to4 of loopback
        "https://[2002:a9fe:a9fe::]/x",  # 6to4 of the metadata address
    ],
)
def test_production_refuses_endpoints_that_are_not_public(url: str) -> None:
    with pytest.raises(UnsafeEndpoint):
        check_endpoint(url, local=False)


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.216.34/x",
        "https://[2606:2800:220:1:248:1893:25c8:1946]/x",
        "https://[64:ff9b::5db8:d822]/x",  # NAT64 of 93.184.216.34
        "https://[2002:5db8:d822::1]/x",  # 6to4 of 93.184.216.34
    ],
)
def test_production_accepts_public_addresses_and_what_embeds_them(url: str) -> None:
    (address,) = check_endpoint(url, local=False)
    assert address == urlsplit(url).hostname


def test_a_name_that_resolves_to_a_private_address_is_refused_at_delivery_too(
    job_table: JobTable, receivers: list[Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: public when registered, loopback when delivered."""
    hooks, endpoint = book(job_table, local=False), receiver(receivers)
    monkeypatch.setattr(socket, "getaddrinfo", resolving_to("93.184.216.34"))
    webhook, _ = hooks.register(
        "org_001",
        WebhookCreate(url="https://hooks.example.com/x", events=["report.completed"]),
        Requester("u"),
    )
    completed(job_table)
    monkeypatch.setattr(socket, "getaddrinfo", resolving_to("127.0.0.1"))
    (attempt,) = hooks.deliver_due(report_payload(job_table))
    assert attempt.status_code is None
    assert attempt.error == "refused: the host resolves to a non-public address (127.0.0.1)"
    assert endpoint.received.empty()
    (delivery,) = hooks.deliveries_of(webhook.organisation_id, webhook.id)
    assert delivery.state == "pending"  # retried, and checked again each time


def test_register_list_deliveries_and_remove_through_the_api(
    api: TestClient, receivers: list[Receiver]
) -> None:
    base = "/api/wp-crm/reports/org_001/webhooks"
    endpoint = receiver(receivers)
    body = {"url": endpoint.url, "events": ["report.completed", "report.failed"]}
    made = api.post(base, json=body, headers=auth())
    assert made.status_code == 201, made.text
    hook = made.json()
    assert hook["secret"].startswith("whsec_") and hook["events"] == body["events"]
    listed = api.get(base, headers=auth()).json()["items"]
    assert listed == [{k: v for k, v in hook.items() if k != "secret"}]
    assert api.get(f"{base}/{hook['id']}/deliveries", headers=auth()).json() == {"items": []}
    other = {"Authorization": f"Bearer {token(org='org_002')}"}
    elsewhere = f"{base.replace('org_001', 'org_002')}/{hook['id']}/deliveries"
    assert api.get(elsewhere, headers=other).status_code == 404
    for wrong in ({"url": endpoint.url, "events": []}, {"url": "ftp://x", "events": ["x"]}):
        assert api.post(base, json=wrong, headers=auth()).status_code == 422
    assert api.delete(f"{base}/{hook['id']}", headers=auth()).status_code == 204
    assert api.get(base, headers=auth()).json()["items"] == []
