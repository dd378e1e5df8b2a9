"""event: what happened in conversations, one row per event (docs/report-types.md, "event").

The chats are chosen exactly as the chat export chooses them; for each of its batches the
metrics module (`reports_pipeline.metrics`) gives the chats' events, replies and ratings
with their interactions and values, worked out over whole conversations before any event
filter applies. Agent status changes belong to no chat and come from the members' own
history. The rows are ordered by time across all chats, so each batch's matching rows are
staged in a table of the reader's scratch database (on disk) and read back sorted, a
window of time at a time: the count of that table is the export's exact row
count, known before the first row is written. With an `occurred` range, only chats that
can hold an event in it are considered at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import cache
from typing import Annotated, Literal, get_args

import polars as pl

from reports_pipeline.filters import DateRange, On, SetFilter, options, shown
from reports_pipeline.metrics import (
    METRICS_TABLES,
    STATUS_ROWS_SQL,
    STATUS_TABLES,
    event_rows,
    status_rows,
)
from reports_pipeline.pushdown import in_range
from reports_pipeline.replica import SCRATCH, Prefilter, ReplicaReader
from reports_pipeline.reports import chat
from reports_pipeline.reports.base import Export, Matching, ReportType, select_columns

EventType = Literal[
    "created",
    "agent_assigned",
    "team_assigned",
    "unassigned",
    "first_response",
    "response",
    "resolved",
    "reopened",
    "csat",
    "agent_status",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
EVENT_NAMES = {
    "created": "Chat created",
    "agent_assigned": "Assigned to an agent",
    "team_assigned": "Assigned to a team",
    "unassigned": "Unassigned",
    "first_response": "First response",
    "response": "Response",
    "resolved": "Resolved",
    "reopened": "Reopened",
    "csat": "CSAT rating",
    "agent_status": "Agent status change",
}
CHAT_EVENTS = frozenset(EVENT_TYPES) - {"agent_status"}
ACTOR_NAMES = {"bot": "Bot", "system": "System"}


# Team member ids on a row's `member_id` (the agent an event names, or a summary's agent).
Agents = Annotated[
    SetFilter[int] | None, On("member_id"), options("members"), shown(group="people")
]


class EventFilters(chat.ChatFilters):
    occurred: Annotated[DateRange | None, On("occurred_at")] = None
    event_types: Annotated[
        SetFilter[EventType] | None, On("event_type"), shown(names=EVENT_NAMES)
    ] = None
    agents: Agents = None
    # The team the event names: the team assigned, or a team of the agent it names.
    teams: chat.Teams = None

    def chat_filters(self) -> chat.ChatFilters:
        """The filters that choose the chats, as the chat export reads them (`teams` is
        the event's here)."""
        return chat.ChatFilters.of(self, teams=None)

    def kinds(self) -> frozenset[str]:
        """The event types the export can hold."""
        chosen = self.event_types
        if chosen is None or chosen.exists:
            return frozenset(EVENT_TYPES)
        if chosen.values is not None:
            return frozenset(chosen.values)
        if chosen.exclude_values is not None:
            return frozenset(EVENT_TYPES) - set(chosen.exclude_values)
        return frozenset()  # `exists: false`: no event is without a type


EVENT_FIELDS = ("occurred", "event_types", "agents", "teams")

COLUMNS: dict[str, pl.Expr] = {
    "Event Type": pl.col("event_type"),
    "Event ID": pl.col("event_id"),
    "Occurred At": pl.col("occurred_at"),
    "Chat ID": pl.col("chat_id"),
    "Interaction": pl.col("interaction"),
    "Channel": pl.col("channel"),
    "Contact ID": pl.col("contact_id"),
    "Agent ID": pl.col("member_id"),
    "Agent Name": pl.col("member_name"),
    "Team": pl.col("team_names"),
    "Actor Type": pl.col("actor_type"),
    "Actor Name": pl.col("actor_name"),
    "Value (s)": pl.col("value_s"),
    "Value, business hours (s)": pl.col("value_bh_s"),
    "CSAT Score": pl.col("csat_score"),
    "CSAT Comment": pl.col("csat_comment"),
    "Issue Resolved": pl.col("issue_resolved"),
    "Resolution Category": pl.col("category"),
    "Resolution Sub-category": pl.col("sub_category"),
    "Reopen Cause": pl.col("reopen_cause"),
    "Status": pl.col("status"),
}
ORDER = ("Occurred At", "Event Type", "Event ID")
# What each event needs from its chat, under the chat export's headers.
CHAT_COLUMNS = {
    "Chat ID": "chat_id",
    "Channel": "channel",
    "Contact ID": "contact_id",
    "Contact Name": "contact_name",
}
CHAT_SCHEMA = {
    "chat_id": pl.Int64,
    "channel": pl.String,
    "contact_id": pl.Int64,
    "contact_name": pl.String,
}
STAGED = f"{SCRATCH}.event_export"
# The staged rows are sorted a window of time at a time (one sort of them all ran out of
# DuckDB's 128 MB at 1M chats): their count per hour, small at any size, tells where each
# window of about `size` rows starts.
HOURS_SQL = f"""
SELECT date_trunc('hour', "Occurred At") AS hour, count(*) AS n FROM {STAGED}
GROUP BY hour ORDER BY hour"""  # noqa: S608 - our names
WINDOW_SQL = f"""
SELECT * FROM {STAGED}
WHERE "Occurred At" >= $start AND ($end IS NULL OR "Occurred At" < $end)
ORDER BY {", ".join(f'"{header}"' for header in ORDER)}"""  # noqa: S608 - our names


def occurred_window(occurred: DateRange | None, tz: str) -> Prefilter:
    """Chats that can hold an event inside `occurred`: a chat's events lie between its
    creation and its last message, except its ratings, which may come later."""
    return chat.lived_within(
        occurred,
        tz,
        "occurred",
        later="chat_id IN (SELECT chat_id FROM ratings WHERE rated_at >= $occurred_start)",
        later_reads=("ratings",),
    )


def members(reader: ReplicaReader) -> pl.DataFrame:
    """The organisation's members with their teams' ids and names (null without one)."""
    return reader.query(
        ["team_members", "team_memberships", "teams"],
        """SELECT m.member_id, m.name AS member_name,
                  list(t.team_id ORDER BY t.team_id) FILTER (WHERE t.team_id IS NOT NULL)
                      AS member_team_ids,
                  list(n.name ORDER BY t.team_id) FILTER (WHERE t.team_id IS NOT NULL)
                      AS member_team_names
           FROM team_members m
           LEFT JOIN team_memberships t USING (member_id)
           LEFT JOIN teams n USING (team_id)
           GROUP BY m.member_id, m.name""",
    )


class Names:
    """The organisation's members (with their teams), teams and resolution labels."""

    def __init__(self, reader: ReplicaReader) -> None:
        self.members = members(reader)
        self.teams = reader.query("teams", "SELECT team_id, name AS team_name FROM teams")
        self.labels = reader.query(
            "resolution_labels",
            "SELECT resolution_label_id, category, sub_category FROM resolution_labels",
        )

    def named(self, rows: pl.DataFrame, chats: pl.DataFrame) -> pl.DataFrame:
        """`rows` (the metrics' event shape) with their chats' and the named things' names."""
        frame = (
            rows.join(chats, on="chat_id", how="left")
            .join(self.members, on="member_id", how="left")
            .join(self.teams, on="team_id", how="left")
            .join(self.labels, on="resolution_label_id", how="left")
        )
        assigned = pl.col("team_id").is_not_null()
        return frame.with_columns(
            team_ids=pl.when(assigned)
            .then(pl.concat_list("team_id"))
            .otherwise(pl.col("member_team_ids")),
            team_names=pl.when(assigned)
            .then(pl.concat_list("team_name"))
            .otherwise(pl.col("member_team_names")),
            actor_name=pl.when(pl.col("actor_type") == "customer")
            .then(pl.col("contact_name"))
            .when(pl.col("actor_type") == "agent")
            .then(pl.col("member_name"))
            .otherwise(pl.col("actor_type").replace_strict(ACTOR_NAMES, default=None)),
        )


def build(reader: ReplicaReader, filters: EventFilters, tz: str, slice_rows: int) -> Export:
    where = filters.where(tz, EVENT_FIELDS)
    kinds = filters.kinds()

    def stage(rows: pl.DataFrame, chats: pl.DataFrame, names: Names) -> None:
        frame = names.named(rows, chats).filter(where)
        reader.append(STAGED, select_columns(frame, COLUMNS))

    @cache
    def staged() -> int:
        names = Names(reader)
        no_chats = pl.DataFrame(schema=CHAT_SCHEMA)
        if kinds & CHAT_EVENTS:
            window = occurred_window(filters.occurred, tz)
            for batch in chat.chosen_chats(
                reader, filters.chat_filters(), tz, slice_rows, window, CHAT_COLUMNS
            ):
                chosen = batch.cast(CHAT_SCHEMA)  # type: ignore[arg-type]
                stage(event_rows(reader, chosen), chosen, names)
        # Always once, even without status rows: it gives the table its shape.
        statuses = status_rows(reader) if "agent_status" in kinds else _no_rows(reader)
        stage(statuses, no_chats, names)
        return reader.count(STAGED)

    def batches() -> Iterator[pl.DataFrame]:
        staged()
        starts = window_starts(reader.query([], HOURS_SQL), slice_rows)
        for start, end in zip(starts, [*starts[1:], None], strict=False):
            within = {"start": start, "end": end}
            yield reader.query([], WINDOW_SQL, within)
        if not starts:
            yield reader.query([], f"SELECT * FROM {STAGED} LIMIT 0")  # noqa: S608

    return Export(list(COLUMNS), batches(), Matching(staged, exact=True))


def window_starts(hours: pl.DataFrame, size: int) -> list[datetime]:
    """The hours at which windows of at least `size` rows (or the rest) start."""
    starts, filled = [], size
    for hour, rows in hours.iter_rows():
        if filled >= size:
            starts.append(hour)
            filled = 0
        filled += rows
    return starts


def _no_rows(reader: ReplicaReader) -> pl.DataFrame:
    """The metrics' event shape, without rows."""
    return reader.query(STATUS_TABLES, f"SELECT * FROM ({STATUS_ROWS_SQL}) LIMIT 0")  # noqa: S608


def count(reader: ReplicaReader, filters: EventFilters, tz: str) -> Matching:
    """At most how many rows an export would hold, from the sources' own time columns:
    neither the chat filters nor the agents and teams are decided here."""
    kinds = filters.kinds()
    sources: list[tuple[str, Prefilter]] = []
    if chat_kinds := sorted(kinds & CHAT_EVENTS - {"response", "first_response", "csat"}):
        types = Prefilter("list_contains($types, event_type)", {"types": chat_kinds})
        sources.append(("chat_events", types & _occurred(filters, tz, "occurred_at")))
    # A reply is at most one `response` and one `first_response` row.
    replies = len(kinds & {"response", "first_response"})
    sent = Prefilter("sender <> 'user'") & _occurred(filters, tz, "sent_at")
    sources += [("messages", sent)] * replies
    if "csat" in kinds:
        sources.append(("ratings", _occurred(filters, tz, "rated_at")))
    if "agent_status" in kinds:
        sources.append(("member_status", _occurred(filters, tz, "changed_at")))
    return Matching(lambda: sum(reader.count(t, keep) for t, keep in sources), exact=False)


def _occurred(filters: EventFilters, tz: str, column: str) -> Prefilter:
    return in_range(filters.occurred, column, tz, prefix="occurred")


REPORT = ReportType(
    name="event",
    date_filter="occurred",
    reads=frozenset(
        (
            *METRICS_TABLES,
            *STATUS_TABLES,
            "team_members",
            "team_memberships",
            "teams",
            *chat.REPORT.reads,
        )
    ),
    label="Event",
    description="What happened in conversations, one row per event: assignments, replies, "
    "resolutions, reopens, ratings and agent status changes, with response and resolution "
    "times (also in business hours).",
    filters=EventFilters,
    build=build,
    counts=count,
    example={
        "type": "event",
        "filters": {
            "occurred": {"from": "2026-11-01", "to": "2026-11-30"},
            "event_types": {"values": ["first_response", "resolved", "csat"]},
        },
        "timezone": "Europe/Berlin",
    },
)
