"""The event export through real `export_report` runs to the S3 server, read back as Parquet
and compared row by row with a plain Python computation over the replica's tables."""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import pytest

from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports import REPORT_TYPES
from tests.conftest import Exported
from tests.test_metrics import open_seconds

HEADER = [
    "Event Type",
    "Event ID",
    "Occurred At",
    "Chat ID",
    "Interaction",
    "Channel",
    "Contact ID",
    "Agent ID",
    "Agent Name",
    "Team",
    "Actor Type",
    "Actor Name",
    "Value (s)",
    "Value, business hours (s)",
    "CSAT Score",
    "CSAT Comment",
    "Issue Resolved",
    "Resolution Category",
    "Resolution Sub-category",
    "Reopen Cause",
    "Status",
]
Row = dict[str, Any]


class Replica:
    """One organisation's tables as plain Python values."""

    def __init__(self, catalog: duckdb.DuckDBPyConnection, org: str) -> None:
        self.org = org
        self.catalog = catalog
        ((zone,),) = self.rows("SELECT timezone FROM organisations WHERE org_id = ?")
        self.zone = ZoneInfo(zone)
        self.hours: list[tuple[int, time, time]] = self.rows(
            "SELECT weekday, opens, closes FROM business_hours WHERE org_id = ?"
        )
        self.holidays = {d for (d,) in self.rows("SELECT day FROM holidays WHERE org_id = ?")}
        self.members = dict(self.rows("SELECT member_id, name FROM team_members WHERE org_id = ?"))
        self.team_names = dict(self.rows("SELECT team_id, name FROM teams WHERE org_id = ?"))
        self.member_teams: dict[int, list[int]] = defaultdict(list)
        for member, team in self.rows(
            "SELECT member_id, team_id FROM team_memberships WHERE org_id = ? ORDER BY 2"
        ):
            self.member_teams[member].append(team)
        self.labels = {
            i: (c, s)
            for i, c, s in self.rows(
                "SELECT resolution_label_id, category, sub_category FROM resolution_labels "
                "WHERE org_id = ?"
            )
        }
        self.chats = {
            chat: {"channel": channel, "contact_id": contact, "contact_name": name}
            for chat, channel, contact, name in self.rows(
                """SELECT c.chat_id, h.name, p.contact_id, p.name FROM chats c
                   JOIN channels h ON h.org_id = c.org_id AND h.channel_id = c.channel_id
                   LEFT JOIN chat_contacts l
                          ON l.org_id = c.org_id AND l.chat_id = c.chat_id AND l.is_primary
                   LEFT JOIN contacts p ON p.org_id = c.org_id AND p.contact_id = l.contact_id
                   WHERE c.org_id = ?"""
            )
        }

    def rows(self, sql: str) -> list[Any]:
        return self.catalog.execute(sql, [self.org]).fetchall()

    def business(self, a: datetime, b: datetime) -> int:
        return open_seconds(a, b, self.hours, self.holidays, self.zone)

    def events(self) -> list[Row]:
        """Every event row of the organisation, each chat's worked out on its own."""
        out = [*self._chat_events(), *self._replies(), *self._ratings(), *self._statuses()]
        return sorted(out, key=lambda r: (r["Occurred At"], r["Event Type"], r["Event ID"]))

    def _row(self, kind: str, ident: int, at: datetime, chat: int | None, **values: Any) -> Row:
        member: Any = values.get("member")
        team = values.get("team")
        teams = [team] if team is not None else self.member_teams.get(member, [])
        actor: str = values["actor"]
        of_chat = self.chats.get(chat, {}) if chat is not None else {}
        actor_name = {
            "customer": of_chat.get("contact_name"),
            "agent": self.members.get(member),
            "bot": "Bot",
            "system": "System",
        }[actor]
        label = self.labels.get(values.get("label"), (None, None))
        return {
            "Event Type": kind,
            "Event ID": ident,
            "Occurred At": at,
            "Chat ID": chat,
            "Interaction": values.get("interaction"),
            "Channel": of_chat.get("channel"),
            "Contact ID": of_chat.get("contact_id"),
            "Agent ID": member,
            "Agent Name": self.members.get(member),
            "Team": [self.team_names[t] for t in teams] or None,
            "Actor Type": actor,
            "Actor Name": actor_name,
            "Value (s)": values.get("value", (None, None))[0],
            "Value, business hours (s)": values.get("value", (None, None))[1],
            "CSAT Score": values.get("score"),
            "CSAT Comment": values.get("comment"),
            "Issue Resolved": values.get("resolved"),
            "Resolution Category": label[0],
            "Resolution Sub-category": label[1],
            "Reopen Cause": values.get("cause"),
            "Status": values.get("status"),
        }

    def _span(self, a: datetime, b: datetime) -> tuple[int, int]:
        return int((b - a).total_seconds()), self.business(a, b)

    def reopens(self) -> dict[int, list[datetime]]:
        found: dict[int, list[datetime]] = defaultdict(list)
        for chat, at in self.rows(
            "SELECT chat_id, occurred_at FROM chat_events "
            "WHERE org_id = ? AND event_type = 'reopened'"
        ):
            found[chat].append(at)
        return found

    def _chat_events(self) -> Iterable[Row]:
        by_chat: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for row in self.rows(
            "SELECT chat_id, event_id, occurred_at, event_type, actor_type, member_id, team_id, "
            "resolution_label_id, reopen_cause FROM chat_events WHERE org_id = ?"
        ):
            by_chat[row[0]].append(row)
        for chat, events in by_chat.items():
            interaction, started = 1, None
            for _, ident, at, kind, actor, member, team, label, cause in sorted(
                events, key=lambda e: e[1]
            ):
                if kind == "reopened":
                    interaction += 1
                if kind in ("created", "reopened"):
                    started = at
                value = self._span(started, at) if kind == "resolved" and started else None
                yield self._row(
                    kind,
                    ident,
                    at,
                    chat,
                    interaction=interaction,
                    actor=actor,
                    member=member,
                    team=team,
                    label=label,
                    cause=cause,
                    **({"value": value} if value else {}),
                )

    def _replies(self) -> Iterable[Row]:
        timeline: dict[int, list[tuple[datetime, int, int, str, int | None]]] = defaultdict(list)
        for chat, message, sender, member, at in self.rows(
            "SELECT chat_id, message_id, sender, member_id, sent_at FROM messages WHERE org_id = ?"
        ):
            timeline[chat].append((at, 1, message, sender, member))
        for chat, times in self.reopens().items():
            timeline[chat] += [(at, 0, 0, "", None) for at in times]
        for chat, items in timeline.items():
            interaction, previous, wait, answered = 1, None, None, 0
            for at, kind, message, sender, member in sorted(items):
                if kind == 0:
                    interaction, previous, wait, answered = interaction + 1, None, None, 0
                    continue
                if sender == "user" and previous != "user":
                    wait = at
                if sender != "user" and previous == "user" and wait is not None:
                    answered += 1
                    kinds = ["response", "first_response"] if answered == 1 else ["response"]
                    for name in kinds:
                        yield self._row(
                            name,
                            message,
                            at,
                            chat,
                            interaction=interaction,
                            actor=sender,
                            member=member,
                            value=self._span(wait, at),
                        )
                previous = sender

    def _ratings(self) -> Iterable[Row]:
        reopens = self.reopens()
        for ident, chat, at, score, comment, resolved in self.rows(
            "SELECT rating_id, chat_id, rated_at, score, comment, issue_resolved FROM ratings "
            "WHERE org_id = ?"
        ):
            yield self._row(
                "csat",
                ident,
                at,
                chat,
                interaction=1 + sum(r <= at for r in reopens.get(chat, [])),
                actor="customer",
                score=score,
                comment=comment,
                resolved=resolved,
            )

    def _statuses(self) -> Iterable[Row]:
        previous: dict[int, datetime] = {}
        for ident, member, at, status in self.rows(
            "SELECT status_change_id, member_id, changed_at, status FROM member_status "
            "WHERE org_id = ? ORDER BY changed_at, status_change_id"
        ):
            before = previous.get(member)
            previous[member] = at
            yield self._row(
                "agent_status",
                ident,
                at,
                None,
                actor="agent",
                member=member,
                status=status,
                **({"value": self._span(before, at)} if before else {}),
            )


def read(out: Exported) -> list[Row]:
    frame = pl.read_parquet(io.BytesIO(out.raw))
    assert frame.columns == HEADER
    return frame.with_columns(pl.col("Occurred At").dt.convert_time_zone("UTC")).to_dicts()


def within(rows: list[Row], start: datetime, end: datetime) -> list[Row]:
    return [r for r in rows if start <= r["Occurred At"] < end]


@pytest.fixture(scope="module")
def replicas(catalog: duckdb.DuckDBPyConnection) -> Callable[[str], Replica]:
    made: dict[str, Replica] = {}
    return lambda org: made.setdefault(org, Replica(catalog, org))


@pytest.mark.parametrize(
    ("org", "tz"),
    [
        ("org_001", "UTC"),
        ("org_002", "America/New_York"),
        ("org_003", "Asia/Kolkata"),
        ("org_004", "Europe/Berlin"),
    ],
)
def test_every_event_of_an_organisation_equals_the_plain_computation(
    export: Callable[..., Exported], replicas: Callable[[str], Replica], org: str, tz: str
) -> None:
    """Every event type, every shape of business hours (one organisation per shape)."""
    out = export("event", tz=tz, org=org, file_format="parquet", slice_rows=300)
    expected = replicas(org).events()
    found = read(out)
    assert len(found) == len(expected) == out.report.row_count == out.report.rows_expected
    for got, want in zip(found, expected, strict=True):
        assert got == want


def test_the_cases_the_contract_names_are_among_the_compared_rows(
    replicas: Callable[[str], Replica],
) -> None:
    """The comparison above covers a business-hours value across a closing time, a reopened
    chat's second interaction and agent status rows with their durations."""
    rows = replicas("org_001").events()
    kinds = {r["Event Type"] for r in rows}
    assert kinds == {
        "created", "agent_assigned", "team_assigned", "unassigned", "first_response",
        "response", "resolved", "reopened", "csat", "agent_status",
    }  # fmt: skip
    closed_hours = [
        r for r in rows if r["Event Type"] == "response" and r["Value (s)"] > 3600 > 0
        and r["Value, business hours (s)"] < r["Value (s)"]
    ]  # fmt: skip
    assert closed_hours
    second = [r for r in rows if r["Interaction"] == 2 and r["Event Type"] == "first_response"]
    assert second
    lasted = [r for r in rows if r["Event Type"] == "agent_status" and r["Value (s)"]]
    assert lasted


MIXES: list[tuple[str, dict[str, Any], Callable[[Replica, list[Row]], list[Row]]]] = [
    (
        "a month of replies, resolutions and ratings in New York",
        {
            "occurred": {"from": "2026-06-01", "to": "2026-06-30"},
            "event_types": {"values": ["first_response", "resolved", "csat"]},
        },
        lambda rep, rows: [
            r
            for r in within(
                rows,
                datetime(2026, 6, 1, 4, tzinfo=UTC),
                datetime(2026, 7, 1, 4, tzinfo=UTC),
            )
            if r["Event Type"] in ("first_response", "resolved", "csat")
        ],
    ),
    (
        "high-priority chats' events but their creation, and no status changes",
        {"high_priority": True, "event_types": {"exclude_values": ["created", "agent_status"]}},
        lambda rep, rows: [
            r
            for r in rows
            if r["Chat ID"] in high_priority(rep)
            and r["Event Type"] not in ("created", "agent_status")
        ],
    ),
    (
        "two agents' events, status changes included",
        {"agents": {"values": [3, 5]}},
        lambda rep, rows: [r for r in rows if r["Agent ID"] in (3, 5)],
    ),
    (
        "events naming one team, by assignment or by the agent's membership",
        {"teams": {"values": [2]}, "occurred": {"from": "2026-05-01"}},
        lambda rep, rows: [
            r
            for r in within(
                rows, datetime(2026, 5, 1, 4, tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
            )
            if rep.team_names[2] in (r["Team"] or [])
        ],
    ),
]


def high_priority(rep: Replica) -> set[int]:
    return {c for (c,) in rep.rows("SELECT chat_id FROM chats WHERE org_id = ? AND high_priority")}


@pytest.mark.parametrize(("why", "filters", "expect"), MIXES, ids=[m[0] for m in MIXES])
def test_filtered_events_are_the_plain_computation_filtered(
    export: Callable[..., Exported],
    replicas: Callable[[str], Replica],
    why: str,
    filters: dict[str, Any],
    expect: Callable[[Replica, list[Row]], list[Row]],
) -> None:
    rep = replicas("org_001")
    out = export("event", filters, tz="America/New_York", file_format="parquet")
    expected = expect(rep, rep.events())
    assert expected, why
    assert read(out) == expected
    assert out.report.row_count == out.report.rows_expected == len(expected)


def test_the_preview_count_is_an_upper_bound_and_the_run_exact(
    export: Callable[..., Exported], replica: Any
) -> None:
    filters = {"occurred": {"from": "2026-06-01", "to": "2026-06-30"}, "high_priority": True}
    event = REPORT_TYPES["event"]
    with ReplicaReader(replica, "org_001") as reader:
        matching = event.matching(reader, event.parse_filters(filters), "UTC")
        assert matching is not None and not matching.exact
        at_most = matching.count()
    out = export("event", filters)
    assert out.report.rows_expected == out.report.row_count == len(out.rows) > 0
    assert at_most >= len(out.rows)


def test_nothing_chosen_is_a_header_only_file(export: Callable[..., Exported]) -> None:
    out = export("event", {"occurred": {"from": "2001-01-01", "to": "2001-01-02"}})
    assert out.header == HEADER and out.rows == []
    assert out.report.rows_expected == out.report.row_count == 0
