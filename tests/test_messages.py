"""The message (transcript) export through real `export_report` runs to the S3 server,
checked against independent SQL over the replica."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from reports_pipeline.formats.csv import guard_formula
from reports_pipeline.replica import EVERY_ROW, ReplicaReader
from reports_pipeline.reports import chat, message
from reports_pipeline.request import parse_request
from tests.conftest import ORG, Exported

HEADER = [
    "Message ID",
    "Chat ID",
    "Chat Name",
    "Channel",
    "Contact ID",
    "Contact Name",
    "Position",
    "Sent At",
    "Sender Type",
    "Sender ID",
    "Sender Name",
    "Text",
    "Response Time (s)",
    "Interaction",
    "Response Time, business hours (s)",
]
IN_ORDER = """
SELECT m.message_id, m.text, m.sender, m.member_id,
       row_number() OVER (PARTITION BY m.chat_id ORDER BY m.sent_at, m.message_id) AS position
FROM messages m JOIN chats c USING (chat_id)
WHERE m.org_id = ? ORDER BY c.created_at, c.chat_id, m.sent_at, m.message_id"""


def test_every_message_in_chat_order_with_its_position_and_sender(
    export: Callable[..., Exported], catalog: duckdb.DuckDBPyConnection
) -> None:
    out = export("message", slice_rows=400)
    assert out.header == HEADER
    expected = catalog.execute(IN_ORDER, [ORG]).fetchall()
    assert [int(r["Message ID"]) for r in out.rows] == [m[0] for m in expected]
    names = dict(catalog.execute("SELECT member_id, name FROM team_members").fetchall())
    for row, (_, _, sender, member_id, position) in zip(out.rows, expected, strict=True):
        assert int(row["Position"]) == position
        kind = {"user": "customer", "agent": "agent", "bot": "bot"}[sender]
        assert row["Sender Type"] == kind
        if kind == "agent":
            assert (row["Sender ID"], row["Sender Name"]) == (
                str(member_id),
                guard_formula(names[member_id]),
            )
        elif kind == "customer":
            assert (row["Sender ID"], row["Sender Name"]) == (
                row["Contact ID"],
                row["Contact Name"],
            )
        else:
            assert (row["Sender ID"], row["Sender Name"]) == ("", "Bot")


def test_hostile_text_round_trips_byte_exact_behind_the_formula_guard(
    export: Callable[..., Exported], catalog: duckdb.DuckDBPyConnection
) -> None:
    out = export("message", org="org_002")
    texts = dict(
        catalog.execute("SELECT message_id, text FROM messages WHERE org_id = 'org_002'").fetchall()
    )
    seen = {"newline": 0, "guarded": 0, "rtl": 0, "long": 0, "empty": 0}
    for row in out.rows:
        text = texts[int(row["Message ID"])]
        assert row["Text"] == guard_formula(text)
        seen["newline"] += "\n" in text
        seen["guarded"] += row["Text"] != text
        seen["rtl"] += "مرحبا" in text or "שלום" in text
        seen["long"] += len(text) > 3000
        seen["empty"] += text == ""
    assert all(seen.values()), seen  # each kind of hard text was met


def test_the_chat_exports_response_times_follow_from_the_message_rows(
    export: Callable[..., Exported],
) -> None:
    chats = export("chat", {"bot_handled": False})
    messages = export("message", {"bot_handled": False})
    waits: dict[str, list[int]] = defaultdict(list)
    firsts: dict[str, str] = {}
    for row in messages.rows:  # in position order within each chat
        if row["Response Time (s)"]:
            waits[row["Chat ID"]].append(int(row["Response Time (s)"]))
            if row["Interaction"] == "1":  # a chat's first response is its first interaction's
                firsts.setdefault(row["Chat ID"], row["Response Time (s)"])
    answered = 0
    for row in chats.rows:
        times = waits.get(row["Chat ID"], [])
        assert row["First Response Time (s)"] == firsts.get(row["Chat ID"], ""), row["Chat ID"]
        assert (row["Reply Count"], row["Total Reply Time (s)"]) == (
            str(len(times)),
            str(sum(times)) if times else "",
        )
        if times:
            answered += 1
            average = Decimal(sum(times)) / len(times)  # rounded half away from zero
            assert Decimal(row["Average Response Time (s)"]) == average.quantize(
                Decimal("0.1"), ROUND_HALF_UP
            )
    assert answered > 10


def test_chat_filters_choose_the_same_chats_as_the_chat_export(
    export: Callable[..., Exported],
) -> None:
    filters = {"high_priority": True, "labels": {"exists": True}, "created": {"from": "2025-06-01"}}
    chats = export("chat", filters)
    messages = export("message", filters)
    assert chats.rows
    in_order = list(dict.fromkeys(r["Chat ID"] for r in messages.rows))
    assert in_order == [r["Chat ID"] for r in chats.rows]


@pytest.mark.parametrize(
    "filters,sql",
    [
        ({"sender_types": {"values": ["agent"]}}, "sender = 'agent'"),
        ({"sender_types": {"exclude_values": ["customer"]}}, "sender <> 'user'"),
        ({"senders": {"values": [3, 5]}}, "member_id IN (3, 5)"),
        ({"senders": {"exists": False}}, "member_id IS NULL"),
        ({"text": "REFUND"}, "contains(lower(text), 'refund')"),
        ({"text": '"payment failed"'}, "contains(text, '\"payment failed\"')"),
    ],
)
def test_message_filters(
    export: Callable[..., Exported], catalog: duckdb.DuckDBPyConnection, filters: dict, sql: str
) -> None:
    out = export("message", filters)
    expected = [
        r[0]
        for r in catalog.execute(
            f"SELECT message_id FROM ({IN_ORDER}) WHERE message_id IN "  # noqa: S608 - test SQL
            f"(SELECT message_id FROM messages WHERE {sql})",
            [ORG],
        ).fetchall()
    ]
    assert expected and [int(r["Message ID"]) for r in out.rows] == expected


def test_sent_is_a_date_range_in_the_requests_timezone(
    export: Callable[..., Exported], catalog: duckdb.DuckDBPyConnection
) -> None:
    tz = "Asia/Kolkata"
    out = export("message", {"sent": {"from": "2025-03-01", "to": "2025-03-07"}}, tz=tz)
    start = date(2025, 3, 1)
    expected = catalog.execute(
        """SELECT count(*) FROM messages WHERE org_id = ?
           AND sent_at >= timezone(?, ?::TIMESTAMP) AND sent_at < timezone(?, ?::TIMESTAMP)""",
        [ORG, tz, start, tz, start + timedelta(days=7)],
    ).fetchall()[0][0]
    assert len(out.rows) == expected > 0
    assert all("2025-03-01" <= r["Sent At"][:10] <= "2025-03-07" for r in out.rows)


def test_a_filter_matching_no_message_gives_the_header_only(
    export: Callable[..., Exported],
) -> None:
    out = export("message", {"text": "no message says this ✗✗"})
    assert (out.header, out.rows) == (HEADER, [])
    assert out.report.row_count == 0


def test_a_sent_range_reads_only_the_chats_that_can_have_such_messages(replica: Path) -> None:
    """The pre-filter on chats never drops a message (differential over random ranges and
    zones), and a short range considers a small share of the organisation's chats."""
    rng = random.Random(5)  # noqa: S311 - test data
    with ReplicaReader(replica, ORG) as reader:
        total = sum(1 for _ in reader.slices("chats", "created_at", "chat_id", 1))
        for _ in range(6):
            day = date(2025, 1, 1) + timedelta(days=rng.randrange(600))
            tz = rng.choice(["UTC", "Asia/Kolkata", "Pacific/Kiritimati", "America/Los_Angeles"])
            sent = {"from": day.isoformat(), "to": (day + timedelta(days=6)).isoformat()}
            request = parse_request({"type": "message", "filters": {"sent": sent}, "timezone": tz})
            assert isinstance(request.filters, message.MessageFilters)
            window = message.sent_window(request.filters.sent, tz)
            kept = sum(1 for _ in reader.slices("chats", "created_at", "chat_id", 1, window))
            assert kept < total / 10
            narrowed = _rows(reader, request.filters, tz, window)
            everything = _rows(reader, request.filters, tz, EVERY_ROW)
            assert narrowed == everything


def _rows(reader: ReplicaReader, filters: message.MessageFilters, tz: str, keep: object) -> list:
    chats = chat.build(reader, filters.chat_filters(), tz, 300, keep=keep)  # type: ignore[arg-type]
    ids = [i for batch in chats.batches for i in batch["Chat ID"].to_list()]
    said = reader.query("messages", "SELECT message_id, chat_id, sent_at FROM messages")
    where = filters.where(tz, message.MESSAGE_FIELDS)
    return sorted(said.filter(said["chat_id"].is_in(ids)).filter(where)["message_id"].to_list())


def random_chat_filters(rng: random.Random, catalog: duckdb.DuckDBPyConnection) -> dict:
    def ids(sql: str) -> list[int]:
        return [r[0] for r in catalog.execute(sql, [ORG]).fetchall()]

    pools = {
        "labels": ids("SELECT label_id FROM labels WHERE org_id = ?"),
        "assignees": ids("SELECT member_id FROM team_members WHERE org_id = ?"),
        "teams": ids("SELECT team_id FROM teams WHERE org_id = ?"),
        "goals": ids("SELECT goal_id FROM goals WHERE org_id = ?"),
        "channels": ids("SELECT channel_id FROM channels WHERE org_id = ?"),
    }
    flags = ["archived", "high_priority", "has_contacts", "bot_handled", "unanswered"]
    flags += ["session_closed", "autopilot", "has_notes", "has_tickets", "has_open_tickets"]
    choices: list[tuple[str, object]] = [(f, rng.random() < 0.5) for f in flags]
    for name, pool in pools.items():
        shape = rng.choice(["values", "exclude_values", "exists"])
        if shape == "exists":
            choices.append((name, {"exists": rng.random() < 0.5}))
        else:
            picked = rng.sample(pool, min(len(pool), rng.randint(1, 3)))
            choices.append((name, {shape: picked}))
    start = date(2025, 1, 1) + timedelta(days=rng.randrange(500))
    choices += [
        ("created", {"from": start.isoformat(), "to": (start + timedelta(days=120)).isoformat()}),
        ("last_message", {"from": start.isoformat()}),
        ("search", rng.choice(["a", "order", "+", "ü"])),
        ("workflow_states", {"values": rng.sample(["open", "pending", "closed"], 2)}),
        ("contact_custom_fields", [{"field": "plan", "op": "in", "value": ["Pro", "Free"]}]),
        ("contact_custom_fields", [{"field": "email_2", "op": "exists", "value": True}]),
    ]
    return dict(rng.sample(choices, rng.randint(1, 4)))


def test_choosing_chats_with_only_the_columns_needed_changes_nothing(
    replica: Path, catalog: duckdb.DuckDBPyConnection
) -> None:
    """Differential: the message export builds the chat export reading only what its five
    columns and the active filters need; over many random filter mixes it must choose
    the same chats, in the same order, with the same values, as the full chat export."""
    rng = random.Random(11)  # noqa: S311 - test data
    headers = list(message.CHAT_COLUMNS)
    chosen_any = 0
    with ReplicaReader(replica, ORG) as reader:
        for _ in range(30):
            body = {"type": "chat", "filters": random_chat_filters(rng, catalog)}
            request = parse_request(body)
            assert isinstance(request.filters, chat.ChatFilters)
            full = chat.build(reader, request.filters, "Asia/Kolkata", 800)
            pruned = chat.build(reader, request.filters, "Asia/Kolkata", 800, only=headers)
            expected = [b.select(headers) for b in full.batches]
            got = list(pruned.batches)
            rows = [r for b in expected for r in b.iter_rows()]
            assert rows == [r for b in got for r in b.iter_rows()], body
            chosen_any += bool(rows)
    assert chosen_any > 10  # the mixes are not all empty
