"""Signed completion webhooks: an organisation's endpoints hear `report.completed`,
`report.failed` and `report.canceled`.

A delivery is queued in the same transaction as the status move that causes it (the
lifecycle calls `enqueue`), so none is lost and none is made for a move that did not
apply. The `deliver_webhooks` sensor sends what is due, every endpoint at once with a
short timeout, so a slow or dead endpoint holds up neither exports (it runs outside
them) nor other deliveries; a non-2xx answer or no answer is retried with exponential
backoff until 24 hours after the event. Every attempt is kept.

Each delivery is `POST`ed as JSON with the headers
`X-Reports-Event`, `X-Reports-Event-Id` and
`X-Reports-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`.
Outside the local profile an endpoint must be HTTPS and resolve only to public addresses;
the address is checked again at each delivery and the connection made to the address
checked (a DNS answer that changes in between cannot redirect it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
from pydantic import AnyHttpUrl, Field
from sqlalchemy.engine import Connection, Engine

from reports_pipeline.addresses import is_public
from reports_pipeline.filters import StrictModel
from reports_pipeline.job_table import Requester, UTCDateTime, metadata, reports, utcnow
from reports_pipeline.protection import PasswordBox

WebhookEvent = Literal["report.completed", "report.failed", "report.canceled"]
EVENTS: tuple[str, ...] = ("report.completed", "report.failed", "report.canceled")
SIGNATURE_HEADER = "X-Reports-Signature"
RETRY_FOR = timedelta(hours=24)
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=2)
ATTEMPT_TIMEOUT_S = 5.0
# A sensor tick must end within Dagster's limit (60 s by default): a tick starts attempts
# for this long, and the due deliveries it did not reach wait for the next tick.
TICK_BUDGET_S = 30.0
SENDERS = 16
webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organisation_id", sa.String(64), nullable=False, index=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("on_completed", sa.Boolean, nullable=False),
    sa.Column("on_failed", sa.Boolean, nullable=False),
    sa.Column("on_canceled", sa.Boolean, nullable=False),
    sa.Column("sealed_secret", sa.Text, nullable=False),
    sa.Column("created_by_id", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # the event id the receiver sees
    sa.Column("webhook_id", sa.String(36), nullable=False, index=True),
    sa.Column("organisation_id", sa.String(64), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("report_id", sa.String(36), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending | delivered | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime),
    sa.Index("webhook_deliveries_due", "state", "next_attempt_at"),
)

attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("delivery_id", sa.String(36), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("attempted_at", UTCDateTime, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("duration_ms", sa.Integer, nullable=False),
)

_COLUMN_OF = {"report.completed": "on_completed", "report.failed": "on_failed"}
_COLUMN_OF["report.canceled"] = "on_canceled"


class WebhookCreate(StrictModel):
    url: AnyHttpUrl = Field(examples=["https://bi.example.com/hooks/reports"])
    events: list[WebhookEvent] = Field(min_length=1, max_length=3)


class UnsafeEndpoint(ValueError):
    """The URL may not receive deliveries (scheme, or an address that is not public)."""


def check_endpoint(url: str, *, local: bool) -> list[str]:
    """The public addresses `url`'s host resolves to; raises `UnsafeEndpoint` for a URL
    the service may not call. The local profile (tests, `make up`) may call anything."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeEndpoint("the URL must be http(s) with a host")
    try:
        found = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError as error:
        raise UnsafeEndpoint(f"the host does not resolve ({error})") from None
    addresses = sorted({str(info[4][0]) for info in found})
    if local:
        return addresses
    if parts.scheme != "https":
        raise UnsafeEndpoint("the URL must be HTTPS")
    for address in addresses:
        if not is_public(address):
            raise UnsafeEndpoint(f"the host resolves to a non-public address ({address})")
    return addresses


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def enqueue(conn: Connection, report_id: str, event: str) -> None:
    """Queue `event` of the report for each of its organisation's endpoints that hear it
    (inside the transaction of the move that caused it)."""
    if event not in _COLUMN_OF:
        return
    report = conn.execute(
        sa.select(reports.c.organisation_id).where(reports.c.id == report_id)
    ).one()
    listening = conn.execute(
        sa.select(webhooks.c.id).where(
            webhooks.c.organisation_id == report.organisation_id,
            webhooks.c[_COLUMN_OF[event]] == sa.true(),
        )
    ).all()
    now = utcnow()
    for (webhook_id,) in listening:
        conn.execute(
            deliveries.insert().values(
                id=str(uuid.uuid4()),
                webhook_id=webhook_id,
                organisation_id=report.organisation_id,
                event=event,
                report_id=report_id,
                created_at=now,
                state="pending",
                next_attempt_at=now,
            )
        )


@dataclass(frozen=True)
class WebhookRow:
    id: str
    organisation_id: str
    url: str
    events: list[str]
    created_at: datetime


@dataclass(frozen=True)
class Attempt:
    number: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True)
class DeliveryRow:
    id: str
    webhook_id: str
    event: str
    report_id: str
    created_at: datetime
    state: str
    next_attempt_at: datetime | None
    attempts: list[Attempt]


# Builds the JSON body of a delivery from its report (the API's Report shape).
Payload = Callable[[str, str, str, datetime], dict[str, Any]]


class Webhooks:
    def __init__(self, engine: Engine, passwords: PasswordBox, *, local: bool) -> None:
        self.engine, self.passwords, self.local = engine, passwords, local

    def register(
        self, organisation_id: str, body: WebhookCreate, by: Requester
    ) -> tuple[WebhookRow, str]:
        """The new endpoint and its signing secret (shown once, kept sealed)."""
        check_endpoint(str(body.url), local=self.local)
        secret = f"whsec_{secrets.token_urlsafe(32)}"
        webhook_id = str(uuid.uuid4())
        with self.engine.begin() as conn:
            conn.execute(
                webhooks.insert().values(
                    id=webhook_id,
                    organisation_id=organisation_id,
                    url=str(body.url),
                    sealed_secret=self.passwords.seal(secret),
                    created_by_id=by.id,
                    created_at=utcnow(),
                    **{column: event in body.events for event, column in _COLUMN_OF.items()},
                )
            )
        found = self.get(organisation_id, webhook_id)
        assert found is not None
        return found, secret

    def of(self, organisation_id: str) -> list[WebhookRow]:
        query = webhooks.select().where(webhooks.c.organisation_id == organisation_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(webhooks.c.created_at, webhooks.c.id)).all()
        return [_webhook(row) for row in rows]

    def get(self, organisation_id: str, webhook_id: str) -> WebhookRow | None:
        query = webhooks.select().where(
            webhooks.c.organisation_id == organisation_id, webhooks.c.id == webhook_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).one_or_none()
        return _webhook(row) if row is not None else None

    def delete(self, organisation_id: str, webhook_id: str) -> bool:
        with self.engine.begin() as conn:
            gone = conn.execute(
                webhooks.delete().where(
                    webhooks.c.organisation_id == organisation_id, webhooks.c.id == webhook_id
                )
            ).rowcount
            conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.organisation_id == organisation_id,
                    deliveries.c.webhook_id == webhook_id,
                    deliveries.c.state == "pending",
                )
                .values(state="failed", next_attempt_at=None)
            )
        return gone == 1

    def deliveries_of(
        self, organisation_id: str, webhook_id: str, limit: int = 50
    ) -> list[DeliveryRow]:
        query = (
            deliveries.select()
            .where(
                deliveries.c.organisation_id == organisation_id,
                deliveries.c.webhook_id == webhook_id,
            )
            .order_by(deliveries.c.created_at.desc(), deliveries.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            return [self._delivery(conn, row) for row in rows]

    def deliver_due(
        self, payload: Payload, now: datetime | None = None, budget_s: float = TICK_BUDGET_S
    ) -> list[Attempt]:
        """Send the pending deliveries that are due, many at once, and record each attempt.
        An attempt starts only while it can end within `budget_s` (its own timeout
        included); those left over are the next call's."""
        now = now or utcnow()
        last_start = time.monotonic() + budget_s - ATTEMPT_TIMEOUT_S
        query = (
            sa.select(deliveries, webhooks.c.url, webhooks.c.sealed_secret)
            .join(webhooks, webhooks.c.id == deliveries.c.webhook_id)
            .where(deliveries.c.state == "pending", deliveries.c.next_attempt_at <= now)
            .order_by(deliveries.c.next_attempt_at)
            .limit(200)
        )
        with self.engine.connect() as conn:
            due = conn.execute(query).all()
        if not due:
            return []

        def attempt(row: sa.Row[Any]) -> Attempt | None:
            in_time = time.monotonic() <= last_start
            return self._attempt(row, payload, now) if in_time else None

        with ThreadPoolExecutor(min(SENDERS, len(due)), thread_name_prefix="webhook") as pool:
            return [tried for tried in pool.map(attempt, due) if tried is not None]

    def _attempt(self, row: sa.Row[Any], payload: Payload, now: datetime) -> Attempt:
        m = row._mapping
        body = json.dumps(
            payload(m["id"], m["event"], m["report_id"], m["created_at"]), separators=(",", ":")
        ).encode()
        started = time.monotonic()
        status_code, error = None, None
        try:
            status_code = post(
                m["url"], body, self.passwords.open(m["sealed_secret"]), m, local=self.local
            )
            if not 200 <= status_code < 300:
                error = f"answered {status_code}"
        except UnsafeEndpoint as refused:
            error = f"refused: {refused}"
        except httpx.HTTPError as failed:
            error = f"{type(failed).__name__}: {failed}"[:500]
        attempt = Attempt(
            m["attempts"] + 1, now, status_code, error, int((time.monotonic() - started) * 1000)
        )
        self._record(m, attempt)
        return attempt

    def _record(self, delivery: Any, attempt: Attempt) -> None:
        if attempt.error is None:
            state, next_at = "delivered", None
        else:
            wait = min(FIRST_RETRY * 2 ** (attempt.number - 1), LONGEST_WAIT)
            next_at = attempt.attempted_at + wait
            expired = next_at > delivery["created_at"] + RETRY_FOR
            state, next_at = ("failed", None) if expired else ("pending", next_at)
        with self.engine.begin() as conn:
            conn.execute(attempts.insert().values(delivery_id=delivery["id"], **vars(attempt)))
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id == delivery["id"])
                .values(state=state, attempts=attempt.number, next_attempt_at=next_at)
            )

    @staticmethod
    def _delivery(conn: Connection, row: sa.Row[Any]) -> DeliveryRow:
        m = row._mapping
        tried = conn.execute(
            attempts.select().where(attempts.c.delivery_id == m["id"]).order_by(attempts.c.number)
        ).all()
        return DeliveryRow(
            id=m["id"],
            webhook_id=m["webhook_id"],
            event=m["event"],
            report_id=m["report_id"],
            created_at=m["created_at"],
            state=m["state"],
            next_attempt_at=m["next_attempt_at"],
            attempts=[Attempt(**{k: t._mapping[k] for k in _ATTEMPT_FIELDS}) for t in tried],
        )


_ATTEMPT_FIELDS = ("number", "attempted_at", "status_code", "error", "duration_ms")


def post(url: str, body: bytes, secret: str, delivery: Any, *, local: bool) -> int:
    """POST one signed delivery to the address just checked; the status code."""
    addresses = check_endpoint(url, local=local)
    parts = urlsplit(url)
    pinned = _with_host(url, addresses[0])
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "Host": parts.netloc.rsplit("@", 1)[-1],
        "User-Agent": "crm-reports-webhooks/1",
        "X-Reports-Event": delivery["event"],
        "X-Reports-Event-Id": delivery["id"],
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }
    with httpx.Client(timeout=ATTEMPT_TIMEOUT_S, follow_redirects=False) as client:
        answer = client.post(
            pinned, content=body, headers=headers, extensions={"sni_hostname": parts.hostname}
        )
    return answer.status_code


def _with_host(url: str, address: str) -> str:
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc).geturl()


def _webhook(row: sa.Row[Any]) -> WebhookRow:
    m = row._mapping
    events = [event for event, column in _COLUMN_OF.items() if m[column]]
    return WebhookRow(m["id"], m["organisation_id"], m["url"], events, m["created_at"])
