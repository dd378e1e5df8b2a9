"""goal: Bot Journey goals, one row per matched chat's latest session (docs/report-types.md,
"goal").

The shape is found per run: a first pass over the matched sessions finds N (the largest
goal-event count) and T(i) (the tracker names recorded at position i); the second pass
streams the rows. Both passes read the same slices and apply the same filters.

Matching: a chat matches when its latest session passes `channels`, has at least one goal
event inside `event_date` and among `goal_ids` (when those are given), and its tracker
values (the latest value of each tracker in the session) satisfy every `trackers`
predicate.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import reduce
from typing import Annotated

import polars as pl

from reports_pipeline.columns import Column, fixed, headed
from reports_pipeline.filters import (
    DateRange,
    On,
    Predicates,
    ReportFilters,
    SetFilter,
    options,
    shown,
)
from reports_pipeline.pushdown import Valued, pushed
from reports_pipeline.replica import EVERY_ROW, Prefilter, ReplicaReader, Slice
from reports_pipeline.reports import base
from reports_pipeline.reports.base import (
    Export,
    Matching,
    ReportType,
    lookup,
    rows_for,
    select_columns,
)

# (started_at, session_id) of each chat's latest session; `{chats}` names the chats.
LATEST_SESSIONS = """
SELECT max(started_at) AS ts, arg_max(session_id, (started_at, session_id)) AS key
FROM bot_sessions WHERE {chats} GROUP BY chat_id ORDER BY ts, key
"""


class GoalFilters(ReportFilters):
    event_date: Annotated[DateRange | None, On("recorded_at"), shown("Goal reached")] = None
    goal_ids: Annotated[SetFilter[int] | None, On("goal_id"), options("goals"), shown("Goals")] = (
        None
    )
    channels: Annotated[
        SetFilter[int] | None, On("channel_id"), options("channels"), shown(group="people")
    ] = None
    trackers: Annotated[Predicates | None, options("trackers")] = None


STATIC: dict[str, pl.Expr] = {
    "Chat ID": pl.col("chat_id"),
    "Chat Name": pl.col("chat_name"),
    "Channel": pl.col("channel"),
    "Contact ID": pl.col("contact_id"),
    "Contact Name": pl.col("contact_name"),
    "Journey ID": pl.col("journey_id"),
    "Journey Name": pl.col("journey"),
    "Session ID": pl.col("session_id"),
    "Session Started At": pl.col("started_at"),
    "Session Status": pl.col("status"),
    "Total Events": pl.col("total_events"),
}


@dataclass
class Shape:
    """N and T(i): the dynamic part of the header."""

    events: int = 0
    trackers: dict[int, set[str]] = field(default_factory=dict)

    def columns(self) -> list[Column]:
        out: list[Column] = []
        for i in range(1, self.events + 1):
            out += [
                Column(f"Goal {i} Name", pl.col(f"goal_{i}")),
                Column(f"Goal {i} Milestone", pl.col(f"milestone_{i}")),
                Column(f"Goal {i} Recorded At", pl.col(f"recorded_at_{i}")),
            ]
            out += [
                Column(f"Goal {i} {name}", pl.col(f"tracker_{i}_{name}"), "tracker", name)
                for name in sorted(self.trackers.get(i, ()))
            ]
        return out


@dataclass
class _Matched:
    sessions: pl.DataFrame  # one row per matched session, with its chat's fields
    events: pl.DataFrame  # their goal events
    trackers: pl.DataFrame  # their tracker values, with the event's position


class _Matcher:
    def __init__(self, reader: ReplicaReader, filters: GoalFilters, tz: str) -> None:
        self.reader, self.filters, self.tz = reader, filters, tz
        self.goals = lookup(reader, "goals", "goal_id", "name", as_key="goal_id", as_value="goal")
        self.journeys = lookup(
            reader, "bot_journeys", "journey_id", "name", as_key="journey_id", as_value="journey"
        )
        self.channels = lookup(
            reader, "channels", "channel_id", "name", as_key="channel_id", as_value="channel"
        )
        events = _event_condition(filters, tz) if base.PUSHDOWN else EVERY_ROW
        # Kept by DuckDB. Only a chat with such an event can have a latest session with one.
        chats = "TRUE"
        if events is not EVERY_ROW:
            chats = f"chat_id IN (SELECT chat_id FROM goal_events WHERE {events.sql})"  # noqa: S608
        sessions = LATEST_SESSIONS.format(chats=chats)
        reader.materialize(
            "latest_sessions", ["bot_sessions", *events.tables], sessions, events.params
        )
        self.keep = _prefilter(filters, tz, events) if base.PUSHDOWN else EVERY_ROW

    def matching(self) -> Matching:
        """The latest sessions the replica query keeps: exactly the export's rows unless
        `channels` or `trackers` (decided on the enriched frame) are active."""
        f = self.filters
        events_pushed = self.keep is not EVERY_ROW or not (f.event_date or f.goal_ids)
        exact = events_pushed and not (f.channels or f.trackers)
        return Matching(lambda: self.reader.count("latest_sessions", self.keep), exact)

    def slices(self, size: int) -> Iterator[Slice]:
        yield from self.reader.slices("latest_sessions", "ts", "key", size, self.keep)

    def match(self, part: Slice) -> _Matched:
        reader = self.reader
        keys = reader.slice_rows("latest_sessions", "ts", "key", part, self.keep)["key"]
        sessions = rows_for(reader, "bot_sessions", "session_id", keys)
        chats = rows_for(
            reader,
            "chats",
            "chat_id",
            sessions["chat_id"],
            "chat_id, name AS chat_name, channel_id",
        )
        sessions = sessions.join(chats, on="chat_id", how="left")
        events = rows_for(reader, "goal_events", "chat_id", sessions["chat_id"]).join(
            sessions.select("session_id"), on="session_id", how="semi"
        )
        trackers = rows_for(reader, "tracker_values", "chat_id", sessions["chat_id"]).join(
            sessions.select("session_id"), on="session_id", how="semi"
        )
        keep = sessions.filter(self._session_filter(events, trackers))
        events = events.join(keep.select("session_id"), on="session_id", how="semi")
        trackers = trackers.join(keep.select("session_id"), on="session_id", how="semi").join(
            events.select("event_id", "position"), on="event_id", how="left"
        )
        return _Matched(keep, events, trackers)

    def _session_filter(self, events: pl.DataFrame, trackers: pl.DataFrame) -> pl.Expr:
        f = self.filters
        parts = [f.channels.to_expr(pl.col("channel_id"))] if f.channels else []
        if f.event_date or f.goal_ids:
            event_where = [
                e
                for e in (
                    f.event_date.to_expr(pl.col("recorded_at"), self.tz) if f.event_date else None,
                    f.goal_ids.to_expr(pl.col("goal_id")) if f.goal_ids else None,
                )
                if e is not None
            ]
            hit = events.filter(reduce(lambda a, b: a & b, event_where))["session_id"]
            parts.append(pl.col("session_id").is_in(hit.unique().implode()))
        for predicate in f.trackers or []:
            latest = (
                trackers.filter(pl.col("tracker_name") == predicate.field)
                .sort("event_id")
                .group_by("session_id")
                .last()
            )
            hit = latest.filter(predicate.to_expr(pl.col("value")))["session_id"]
            if predicate.op in ("exists", "neq", "not_in"):  # sessions without the tracker
                missing = ~pl.col("session_id").is_in(latest["session_id"].implode())
                holds = predicate.to_expr(pl.lit(None, pl.String))
                parts.append(pl.col("session_id").is_in(hit.implode()) | (missing & holds))
            else:
                parts.append(pl.col("session_id").is_in(hit.implode()))
        return reduce(lambda a, b: a & b, parts) if parts else pl.lit(True)

    def described(self, matched: _Matched) -> pl.DataFrame:
        """The matched sessions with their contact, journey, channel and event count, for
        the rows pass only: the shape pass needs none of it, and the contact lookup reads
        the contact table from the slice's lowest contact id to its highest."""
        sessions, events = matched.sessions, matched.events
        contacts = rows_for(
            self.reader,
            "chat_contacts",
            "chat_id",
            sessions["chat_id"],
            "chat_id, contact_id, is_primary",
        ).filter("is_primary")
        names = rows_for(
            self.reader,
            "contacts",
            "contact_id",
            contacts["contact_id"],
            "contact_id, name AS contact_name",
        )
        counts = events.group_by("session_id").agg(total_events=pl.len())
        return (
            sessions.join(contacts.select("chat_id", "contact_id"), on="chat_id", how="left")
            .join(names, on="contact_id", how="left")
            .join(self.journeys, on="journey_id", how="left")
            .join(self.channels, on="channel_id", how="left")
            .join(counts, on="session_id", how="left")
            .with_columns(pl.col("total_events").fill_null(0))
            .sort("started_at", "session_id")
        )


# A tracker predicate that needs a value keeps only sessions with such a value of it (any
# of the session's; Polars decides on the latest).
TRACKERS = {
    "trackers": Valued(
        ("tracker_values",),
        """EXISTS (SELECT 1 FROM (
               SELECT session_id, tracker_name AS name, value FROM tracker_values
           ) v WHERE v.session_id = latest_sessions.key AND {condition})""",
    )
}


def _prefilter(filters: GoalFilters, tz: str, events: Prefilter) -> Prefilter:
    """The latest sessions that can match: the event semi-join, and the trackers'."""
    on_trackers = GoalFilters(trackers=filters.trackers)
    trackers = pushed(on_trackers, tz, ("latest_sessions", "key"), (), TRACKERS, prefix="tracker")
    return _with_an_event(events) & trackers.keep


def _event_condition(filters: GoalFilters, tz: str) -> Prefilter:
    """The condition on a goal event's own columns that `event_date` and `goal_ids` set:
    the same events the Polars filter keeps for them."""
    on_events = GoalFilters(event_date=filters.event_date, goal_ids=filters.goal_ids)
    push = pushed(on_events, tz, ("goal_events", "session_id"), {"recorded_at", "goal_id"})
    if push.keep.sql == EVERY_ROW.sql:
        return EVERY_ROW
    return Prefilter(push.keep.sql, push.keep.params, ("goal_events",))


def _with_an_event(events: Prefilter) -> Prefilter:
    """The latest sessions with an event `events` keeps, as the replica query's semi-join
    (Polars still decides, with `channels` and `trackers`)."""
    if events is EVERY_ROW:
        return EVERY_ROW
    exists = (
        "EXISTS (SELECT 1 FROM goal_events "  # noqa: S608 - our text, values bound
        f"WHERE goal_events.session_id = latest_sessions.key AND {events.sql})"
    )
    return Prefilter(exists, events.params, events.tables)


def discover_shape(matcher: _Matcher, slice_rows: int) -> Shape:
    shape = Shape()
    for part in matcher.slices(slice_rows):
        matched = matcher.match(part)
        if matched.events.height:  # a session without events counts 0
            most = matched.events.group_by("session_id").len()["len"].max()
            shape.events = max(shape.events, most if isinstance(most, int) else 0)
        for position, name in (
            matched.trackers.select("position", "tracker_name").unique().iter_rows()
        ):
            shape.trackers.setdefault(int(position), set()).add(name)
    return shape


def _wide(matched: _Matched, matcher: _Matcher, shape: Shape) -> pl.DataFrame:
    frame = matcher.described(matched)
    events = matched.events.join(matcher.goals, on="goal_id", how="left")
    for i in range(1, shape.events + 1):
        at_i = events.filter(pl.col("position") == i).select(
            "session_id",
            pl.col("goal").alias(f"goal_{i}"),
            pl.col("milestone").alias(f"milestone_{i}"),
            pl.col("recorded_at").alias(f"recorded_at_{i}"),
        )
        frame = frame.join(at_i, on="session_id", how="left")
        names = sorted(shape.trackers.get(i, ()))
        if names:
            values = matched.trackers.filter(pl.col("position") == i).pivot(
                on="tracker_name", index="session_id", values="value", aggregate_function="first"
            )
            present = [n for n in names if n in values.columns]
            values = values.select(
                "session_id", *[pl.col(n).alias(f"tracker_{i}_{n}") for n in present]
            )
            frame = frame.join(values, on="session_id", how="left").with_columns(
                pl.lit(None, pl.String).alias(f"tracker_{i}_{n}") for n in names if n not in present
            )
    return frame


def build(reader: ReplicaReader, filters: GoalFilters, tz: str, slice_rows: int) -> Export:
    matcher = _Matcher(reader, filters, tz)
    shape = discover_shape(matcher, slice_rows)
    columns = headed(fixed(STATIC) + shape.columns())

    def batches() -> Iterator[pl.DataFrame]:
        for part in matcher.slices(slice_rows):
            yield select_columns(_wide(matcher.match(part), matcher, shape), columns)

    return Export(list(columns), batches(), matcher.matching())


def count(reader: ReplicaReader, filters: GoalFilters, tz: str) -> Matching:
    """The matching sessions, without the pass that finds the header's shape."""
    return _Matcher(reader, filters, tz).matching()


REPORT = ReportType(
    name="goal",
    date_filter="event_date",
    reads=frozenset(
        (
            "bot_sessions",
            "goal_events",
            "goals",
            "tracker_values",
            "bot_journeys",
            "channels",
            "chat_contacts",
            "chats",
            "contacts",
        )
    ),
    label="Goal",
    description="Bot journey goals reached per chat, with the trackers recorded at each goal.",
    filters=GoalFilters,
    build=build,
    counts=count,
    example={
        "type": "goal",
        "filters": {
            "event_date": {"from": "2026-07-01"},
            "goal_ids": {"values": [10, 11]},
            "trackers": [{"field": "rating", "op": "gte", "value": 4}],
        },
        "timezone": "Europe/Berlin",
    },
)
