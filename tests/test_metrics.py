"""The conversation metrics (docs/metrics.md): hand-built chats with known answers, then the
DuckDB computation against a plain-Python reference over every chat of the generated
replica."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from reports_pipeline.metrics import chat_metrics, message_metrics
from reports_pipeline.replica import ReplicaReader
from warehouse.catalog import open_catalog

pytestmark = pytest.mark.fast

BERLIN = ZoneInfo("Europe/Berlin")


def local(day: str, clock: str, zone: ZoneInfo = BERLIN) -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), zone).astimezone(
        UTC
    )


def write(root: Path, table: str, org: str, rows: list[dict[str, Any]], schema: Any) -> None:
    folder = root / table / f"org_id={org}"
    folder.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows, schema=schema, orient="row").write_parquet(folder / "part.parquet")


MESSAGE = {
    "message_id": pl.Int64,
    "chat_id": pl.Int64,
    "sender": pl.String,
    "sent_at": pl.Datetime("us", "UTC"),
    "member_id": pl.Int64,
    "text": pl.String,
}
EVENT = {
    "event_id": pl.Int64,
    "chat_id": pl.Int64,
    "occurred_at": pl.Datetime("us", "UTC"),
    "event_type": pl.String,
    "actor_type": pl.String,
    "member_id": pl.Int64,
    "team_id": pl.Int64,
    "resolution_label_id": pl.Int64,
    "reopen_cause": pl.String,
}
RATING = {
    "rating_id": pl.Int64,
    "chat_id": pl.Int64,
    "rated_at": pl.Datetime("us", "UTC"),
    "score": pl.Int32,
    "comment": pl.String,
    "issue_resolved": pl.Boolean,
}
HOURS = {"weekday": pl.Int64, "opens": pl.Time, "closes": pl.Time}
ORGANISATION = {"name": pl.String, "timezone": pl.String, "created_at": pl.Datetime("us", "UTC")}


class Org:
    """One organisation's hand-built conversations: say() and happen() add rows in order."""

    def __init__(
        self,
        root: Path,
        org: str,
        zone: str,
        hours: Iterable[tuple[int, str, str]],
        holidays: Iterable[str] = (),
    ) -> None:
        self.root, self.org, self.zone = root, org, zone
        self.messages: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.ratings: list[dict[str, Any]] = []
        write(
            root,
            "organisations",
            org,
            [{"name": org, "timezone": zone, "created_at": datetime(2020, 1, 1, tzinfo=UTC)}],
            ORGANISATION,
        )
        rows = [
            {"weekday": w, "opens": time.fromisoformat(a), "closes": time.fromisoformat(b)}
            for w, a, b in hours
        ]
        if rows:
            write(root, "business_hours", org, rows, HOURS)
        days = [{"day": date.fromisoformat(d), "name": "Holiday"} for d in holidays]
        if days:
            write(root, "holidays", org, days, {"day": pl.Date, "name": pl.String})

    def say(self, chat: int, sender: str, at: datetime) -> None:
        self.messages.append(
            {
                "message_id": len(self.messages) + 1,
                "chat_id": chat,
                "sender": sender,
                "sent_at": at,
                "member_id": 7 if sender == "agent" else None,
                "text": "hi",
            }
        )

    def happen(self, chat: int, kind: str, at: datetime, label: int | None = None) -> None:
        self.events.append(
            {
                "event_id": len(self.events) + 1,
                "chat_id": chat,
                "occurred_at": at,
                "event_type": kind,
                "actor_type": "system",
                "member_id": None,
                "team_id": None,
                "resolution_label_id": label,
                "reopen_cause": None,
            }
        )

    def rate(self, chat: int, score: int, at: datetime, comment: str | None = None) -> None:
        self.ratings.append(
            {
                "rating_id": len(self.ratings) + 1,
                "chat_id": chat,
                "rated_at": at,
                "score": score,
                "comment": comment,
                "issue_resolved": True,
            }
        )

    def metrics(self) -> dict[int, dict[str, Any]]:
        write(self.root, "messages", self.org, self.messages, MESSAGE)
        write(self.root, "chat_events", self.org, self.events, EVENT)
        if self.ratings:
            write(self.root, "ratings", self.org, self.ratings, RATING)
        labels = [{"resolution_label_id": 1, "category": "Billing", "sub_category": "Refund"}]
        write(
            self.root,
            "resolution_labels",
            self.org,
            labels,
            {"resolution_label_id": pl.Int64, "category": pl.String, "sub_category": pl.String},
        )
        with ReplicaReader(self.root, self.org) as reader:
            chats = pl.DataFrame({"chat_id": sorted({m["chat_id"] for m in self.messages})})
            rows = chat_metrics(reader, chats).to_dicts()
        return {row["chat_id"]: row for row in rows}


WEEKDAYS = [(d, "09:00", "18:00") for d in range(1, 6)]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    # A second organisation with every table, so an organisation without some has their shape.
    other = Org(tmp_path, "other", "UTC", WEEKDAYS, ["2026-01-01"])
    other.say(1, "user", datetime(2026, 1, 2, tzinfo=UTC))
    other.happen(1, "created", datetime(2026, 1, 2, tzinfo=UTC))
    other.rate(1, 5, datetime(2026, 1, 2, tzinfo=UTC))
    other.metrics()
    return tmp_path


def test_a_wait_across_closing_time_counts_only_open_minutes(root: Path) -> None:
    """metrics.md's own example, then the same wait over a weekend and a holiday Monday."""
    office = Org(root, "office", "Europe/Berlin", WEEKDAYS, ["2026-06-08"])
    for chat, asked, answered in [
        (1, local("2026-06-10", "17:55"), local("2026-06-11", "09:05")),
        (2, local("2026-06-05", "17:55"), local("2026-06-09", "09:05")),
    ]:
        office.happen(chat, "created", asked)
        office.say(chat, "user", asked)
        office.say(chat, "agent", answered)
    found = office.metrics()
    assert (found[1]["first_response_s"], found[1]["first_response_bh_s"]) == (54_600, 600)
    assert (found[2]["first_response_s"], found[2]["first_response_bh_s"]) == (313_800, 600)


def test_business_hours_follow_the_clock_change_and_cross_midnight(root: Path) -> None:
    daily = Org(root, "daily", "Europe/Berlin", [(d, "08:00", "20:00") for d in range(1, 8)])
    # Summer time starts in the night of 28-29 March 2026: that night lasts an hour less.
    asked, answered = local("2026-03-28", "19:00"), local("2026-03-29", "09:00")
    daily.happen(1, "created", asked)
    daily.say(1, "user", asked)
    daily.say(1, "agent", answered)
    found = daily.metrics()[1]
    assert (found["first_response_s"], found["first_response_bh_s"]) == (13 * 3600, 2 * 3600)

    night = Org(root, "night", "UTC", [(d, "20:00", "04:00") for d in range(1, 6)])
    asked, answered = (
        datetime(2026, 6, 9, 3, 50, tzinfo=UTC),
        datetime(2026, 6, 9, 20, 10, tzinfo=UTC),
    )
    night.happen(1, "created", asked)
    night.say(1, "user", asked)
    night.say(1, "bot", answered)
    found = night.metrics()[1]
    assert (found["first_response_s"], found["first_response_bh_s"]) == (16 * 3600 + 1200, 1200)


def test_a_reopened_chat_has_two_interactions_and_a_bot_reply_counts(root: Path) -> None:
    org = Org(root, "reopen", "UTC", [])  # no business hours: always open
    t0 = datetime(2026, 6, 9, 10, tzinfo=UTC)
    at = lambda s: t0 + timedelta(seconds=s)  # noqa: E731
    org.happen(1, "created", at(0))
    org.say(1, "user", at(0))
    org.say(1, "user", at(30))  # still the same wait
    org.say(1, "agent", at(60))  # reply: 60 s
    org.happen(1, "resolved", at(60))
    org.rate(1, 2, at(100), "slow")
    org.happen(1, "reopened", at(500))
    org.say(1, "user", at(500))  # opens interaction 2's first wait
    org.say(1, "bot", at(620))  # reply: 120 s
    org.happen(1, "resolved", at(620), label=1)
    org.rate(1, 4, at(700), "better")
    # An interaction with no reply: the customer wrote, the chat was resolved.
    org.happen(2, "created", at(0))
    org.say(2, "user", at(0))
    org.happen(2, "resolved", at(0))
    found = org.metrics()
    assert {
        k: found[1][k]
        for k in (
            "interactions",
            "reopened",
            "first_response_s",
            "reply_count",
            "total_reply_s",
            "average_response_s",
            "resolution_s",
            "resolution_bh_s",
            "duration_s",
            "resolution_label",
            "csat_score",
            "csat_comment",
        )
    } == {
        "interactions": 2,
        "reopened": True,
        "first_response_s": 60,
        "reply_count": 2,
        "total_reply_s": 180,
        "average_response_s": 90.0,
        "resolution_s": 620,
        "resolution_bh_s": 620,
        "duration_s": 620,
        "resolution_label": "Billing / Refund",
        "csat_score": 4,
        "csat_comment": "better",
    }
    assert (found[2]["first_response_s"], found[2]["reply_count"]) == (None, 0)
    assert found[2]["average_response_s"] is None and found[2]["resolution_s"] == 0
    with ReplicaReader(root, "reopen") as reader:
        per_message = message_metrics(reader, pl.DataFrame({"chat_id": [1]})).sort("message_id")
    assert per_message["interaction"].to_list() == [1, 1, 1, 2, 2]
    assert per_message["response_s"].to_list() == [None, None, 60, None, 120]


# ------------------------------------------------------------- against a plain reference


def open_seconds(
    a: datetime,
    b: datetime,
    hours: list[tuple[int, time, time]],
    holidays: set[date],
    zone: ZoneInfo,
) -> int:
    """Seconds of [a, b] inside the open intervals, interval by interval."""
    if not hours:
        return int((b - a).total_seconds())
    total = 0.0
    day = a.astimezone(zone).date() - timedelta(days=1)
    while day <= b.astimezone(zone).date():
        if day not in holidays:
            for weekday, opens, closes in hours:
                if day.isoweekday() != weekday:
                    continue
                start = datetime.combine(day, opens, zone)
                end = datetime.combine(day + timedelta(days=closes <= opens), closes, zone)
                overlap = min(b, end) - max(a, start)
                total += max(0.0, overlap.total_seconds())
        day += timedelta(days=1)
    return int(total)


def tenths(total: int, count: int) -> float | None:
    """total / count to 0.1, halves away from zero (as people round, and as SQL does)."""
    if not count:
        return None
    return float((Decimal(total) / count).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def reference(catalog: Any, org: str) -> dict[int, dict[str, Any]]:
    rows = lambda sql: catalog.execute(sql, [org]).fetchall()  # noqa: E731
    ((zone_name,),) = rows("SELECT timezone FROM organisations WHERE org_id = ?")
    zone = ZoneInfo(zone_name)
    hours = [
        (w, o, c)
        for w, o, c in rows("SELECT weekday, opens, closes FROM business_hours WHERE org_id = ?")
    ]
    holidays = {d for (d,) in rows("SELECT day FROM holidays WHERE org_id = ?")}
    timeline: dict[int, list[tuple[datetime, int, int, str]]] = defaultdict(list)
    for chat, message, sender, at in rows(
        "SELECT chat_id, message_id, sender, sent_at FROM messages WHERE org_id = ?"
    ):
        timeline[chat].append((at, 1, message, sender))
    events: dict[int, list[tuple[int, datetime, str]]] = defaultdict(list)
    for chat, event, kind, at in rows(
        "SELECT chat_id, event_id, event_type, occurred_at FROM chat_events WHERE org_id = ?"
    ):
        events[chat].append((event, at, kind))
        if kind == "reopened":
            timeline[chat].append((at, 0, event, ""))
    out = {}
    for chat, items in timeline.items():
        interaction, previous, wait = 1, None, None
        first = None
        responses: list[tuple[int, int]] = []
        for at, kind, _, sender in sorted(items):
            if kind == 0:
                interaction, previous, wait = interaction + 1, None, None
                continue
            if sender == "user" and previous != "user":
                wait = at
            if sender != "user" and previous == "user" and wait is not None:
                pair = (
                    int((at - wait).total_seconds()),
                    open_seconds(wait, at, hours, holidays, zone),
                )
                responses.append(pair)
                if interaction == 1 and first is None:
                    first = pair
            previous = sender
        ordered = sorted(events[chat])
        turns = [e for e in ordered if e[2] in ("resolved", "reopened")]
        created = next(at for _, at, kind in ordered if kind == "created")
        resolution = None
        if turns and turns[-1][2] == "resolved":
            end = turns[-1][1]
            resolution = (
                int((end - created).total_seconds()),
                open_seconds(created, end, hours, holidays, zone),
            )
        count = len(responses)
        out[chat] = {
            "interactions": interaction,
            "first_response_s": first and first[0],
            "first_response_bh_s": first and first[1],
            "reply_count": count,
            "average_response_s": tenths(sum(r for r, _ in responses), count),
            "average_response_bh_s": tenths(sum(b for _, b in responses), count),
            "resolution_s": resolution and resolution[0],
            "resolution_bh_s": resolution and resolution[1],
        }
    return out


def test_the_metrics_equal_a_plain_reference_over_every_generated_chat(replica: Path) -> None:
    catalog = open_catalog(replica)
    orgs = [o for (o,) in catalog.execute("SELECT org_id FROM organisations ORDER BY 1").fetchall()]
    compared = 0
    for org in orgs:
        expected = reference(catalog, org)
        with ReplicaReader(replica, org) as reader:
            chats = pl.DataFrame({"chat_id": sorted(expected)})
            found = chat_metrics(reader, chats)
        for row in found.to_dicts():
            want = expected[row["chat_id"]]
            assert {k: row[k] for k in want} == want, (org, row["chat_id"])
            compared += 1
    assert compared > 5_000


# The chat export's response times before they were taken per interaction (over the whole
# chat, as the previous code did).
WHOLE_CHAT = """
WITH said AS (
    SELECT chat_id, sender, sent_at,
           lag(sender) OVER (PARTITION BY chat_id ORDER BY sent_at) = 'user' AS after_user
    FROM messages),
waiting AS (
    SELECT *, last_value(CASE WHEN sender = 'user' AND NOT coalesce(after_user, false)
                              THEN sent_at END IGNORE NULLS)
              OVER (PARTITION BY chat_id ORDER BY sent_at ROWS UNBOUNDED PRECEDING) AS since
    FROM said)
SELECT chat_id, arg_min(epoch(sent_at - since), sent_at)::BIGINT AS first_response_s,
       round(avg(epoch(sent_at - since)), 1) AS average_response_s
FROM waiting WHERE sender <> 'user' AND after_user GROUP BY chat_id"""


def test_only_reopened_chats_change_their_response_and_resolution_times(replica: Path) -> None:
    changed = reopened = 0
    for org in ("org_001", "org_002", "org_003", "org_004"):
        with ReplicaReader(replica, org) as reader:
            chats = reader.query(
                "chats",
                "SELECT chat_id, CASE WHEN session_closed THEN "
                "epoch(last_message_at - created_at)::BIGINT END AS before_resolution_s FROM chats",
            )
            before = reader.query("messages", WHOLE_CHAT)
            now = chat_metrics(reader, chats.select("chat_id"))
        joined = chats.join(before, on="chat_id", how="left").join(
            now, on="chat_id", how="left", suffix="_now"
        )
        same = pl.col("first_response_s").eq_missing(pl.col("first_response_s_now")) & pl.col(
            "average_response_s"
        ).eq_missing(pl.col("average_response_s_now"))
        assert joined.filter(~same & ~pl.col("reopened")).height == 0
        assert joined.filter(
            ~pl.col("before_resolution_s").eq_missing(pl.col("resolution_s"))
        ).is_empty()
        changed += joined.filter(~same).height
        reopened += joined.filter(pl.col("reopened")).height
    assert 0 < changed < reopened  # a wait cut by a reopen, in some of them
