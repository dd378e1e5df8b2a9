"""agent_summary: each agent's numbers per period (docs/report-types.md, "agent_summary").

The events come from the metrics module exactly as the event export has them, for every
chat that can hold one in the range, a batch of chats at a time. Each batch's assignments,
replies, first responses, resolutions and ratings in the range are staged with the agent
they count for — a reply for its sender; a resolution, and a rating of it, for the agent
assigned at the resolution. One grouped DuckDB query then lays them over every period
and chosen agent, with the agents' availability from their status changes.
"""

# The queries are composed of this module's own text; every value is a parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

import polars as pl

from reports_pipeline.filters import (
    DateRange,
    On,
    ReportFilters,
)
from reports_pipeline.metrics import METRICS_TABLES, STATUS_TABLES, availability, event_rows
from reports_pipeline.periods import (
    Distribution,
    PeriodOptions,
    bounds,
    periods_cte,
    summary_range,
)
from reports_pipeline.replica import SCRATCH, ReplicaReader
from reports_pipeline.reports import chat
from reports_pipeline.reports.base import Export, ReportType
from reports_pipeline.reports.event import Agents, members, occurred_window


class AgentSummaryFilters(ReportFilters):
    period: Annotated[DateRange | None, On("period")] = None
    agents: Agents = None
    # Agents in any of these teams (or in all of them, with `require_every_value`).
    teams: chat.Teams = None


STAGED = f"{SCRATCH}.agent_summary"
# A batch's events in the range, each with the agent it counts for (`rows` is the metrics'
# event shape for the batch's chats, whole conversations).
ATTRIBUTED_SQL = """
WITH assigned AS (
    SELECT chat_id, event_id, occurred_at, member_id FROM rows WHERE event_type = 'agent_assigned'),
dropped AS (SELECT chat_id, event_id, member_id FROM rows WHERE event_type = 'unassigned'),
resolutions AS (SELECT * FROM rows WHERE event_type = 'resolved'),
standing AS (
    SELECT a.*, min(d.event_id) AS dropped_id
    FROM assigned a LEFT JOIN dropped d
      ON d.chat_id = a.chat_id AND d.member_id = a.member_id AND d.event_id > a.event_id
    GROUP BY ALL),
holders AS (
    SELECT r.chat_id, r.event_id, r.occurred_at, r.value_s,
           arg_min(a.member_id, a.event_id) AS member_id
    FROM resolutions r LEFT JOIN standing a
      ON a.chat_id = r.chat_id AND a.event_id < r.event_id
     AND coalesce(a.dropped_id > r.event_id, true)
    GROUP BY ALL),
rated AS (
    SELECT c.chat_id, c.occurred_at, c.csat_score,
           arg_max(h.member_id, (h.occurred_at, h.event_id)) AS member_id
    FROM rows c JOIN holders h ON h.chat_id = c.chat_id AND h.occurred_at <= c.occurred_at
    WHERE c.event_type = 'csat'
    GROUP BY ALL),
facts AS (
    SELECT 'assigned' AS kind, chat_id, occurred_at, member_id, NULL::DOUBLE AS value_s,
           NULL::BIGINT AS csat_score
    FROM assigned
    UNION ALL
    SELECT event_type, chat_id, occurred_at, member_id, value_s, NULL FROM rows
    WHERE event_type IN ('response', 'first_response') AND member_id IS NOT NULL
    UNION ALL
    SELECT 'resolved', chat_id, occurred_at, member_id, value_s, NULL FROM holders
    UNION ALL
    SELECT 'csat', chat_id, occurred_at, member_id, NULL, csat_score FROM rated)
SELECT * FROM facts
WHERE member_id IS NOT NULL
  AND occurred_at >= $range_start::TIMESTAMPTZ AND occurred_at < $range_end::TIMESTAMPTZ"""

# The measures of one period and agent: over its staged events `f`, grouped before the
# grid is joined (12M events at 5M chats would not fit DuckDB's memory as a join's table;
# the aggregates spill). Chats are counted once per kind, after a grouping that drops
# their repeats. `facts` is read twice: DuckDB would keep a CTE read twice in memory,
# which at 5M chats is more than it has, so it is computed for each read instead.
EVENT_MEASURES = {
    "Replies": "count(*) FILTER (WHERE kind = 'response')",
    "Average First Response (s)": "round(avg(value_s) FILTER (WHERE kind = 'first_response'), 1)",
    "Average Response (s)": "round(avg(value_s) FILTER (WHERE kind = 'response'), 1)",
    "Average Resolution (s)": "round(avg(value_s) FILTER (WHERE kind = 'resolved'), 1)",
    "Rated": "count(csat_score)",
    "Average CSAT": "round(avg(csat_score), 2)",
}
CHAT_MEASURES = {
    "Chats Assigned": "count(*) FILTER (WHERE kind = 'assigned')",
    "Chats Resolved": "count(*) FILTER (WHERE kind = 'resolved')",
}
AVAILABILITY = {
    "Online (s)": "online_s",
    "Away (s)": "away_s",
    "Online, business hours (s)": "online_bh_s",
}
MEASURES = [
    *CHAT_MEASURES,
    *EVENT_MEASURES,
    *AVAILABILITY,
]
# Counts are 0 where an agent has no event in a period; averages stay empty.
COUNTED = {"Chats Assigned", "Chats Resolved", "Replies", "Rated"}
HEADER = ["Period", "Agent ID", "Agent Name", *MEASURES]


def summary_sql(distribution: Distribution) -> str:
    def listed(measures: dict[str, str]) -> str:
        return ", ".join(f'{sql} AS "{name}"' for name, sql in measures.items())

    def shown(name: str) -> str:
        if name in AVAILABILITY:
            return f'coalesce(round(a.{AVAILABILITY[name]}), 0)::BIGINT AS "{name}"'
        source = "c" if name in CHAT_MEASURES else "e"
        value = f'{source}."{name}"'
        return f'coalesce({value}, 0) AS "{name}"' if name in COUNTED else f'{value} AS "{name}"'

    return f"""
WITH {periods_cte(distribution)},
facts AS NOT MATERIALIZED (
    SELECT f.*, u.label FROM {STAGED} f ASOF JOIN units u ON f.occurred_at >= u.unit_start
    WHERE f.occurred_at < u.unit_end),
by_event AS (SELECT label, member_id, {listed(EVENT_MEASURES)} FROM facts GROUP BY ALL),
chats AS (
    SELECT label, member_id, kind FROM facts WHERE kind IN ('assigned', 'resolved')
    GROUP BY label, member_id, kind, chat_id),
by_chat AS (SELECT label, member_id, {listed(CHAT_MEASURES)} FROM chats GROUP BY ALL),
grid AS (SELECT p.label, p.ord, m.member_id, m.member_name FROM periods p, members m)
SELECT grid.label AS "Period", grid.member_id AS "Agent ID", grid.member_name AS "Agent Name",
       {", ".join(shown(name) for name in MEASURES)}
FROM grid
LEFT JOIN by_chat c ON c.label = grid.label AND c.member_id = grid.member_id
LEFT JOIN by_event e ON e.label = grid.label AND e.member_id = grid.member_id
LEFT JOIN available a ON a.label = grid.label AND a.member_id = grid.member_id
ORDER BY grid.ord, grid.member_id"""


def chosen_members(reader: ReplicaReader, filters: AgentSummaryFilters, tz: str) -> pl.DataFrame:
    teams = pl.col("member_team_ids").fill_null([]).alias("team_ids")
    chosen = members(reader).with_columns(teams).filter(filters.where(tz, ("agents", "teams")))
    return chosen.select("member_id", "member_name")


def build(
    reader: ReplicaReader,
    filters: AgentSummaryFilters,
    tz: str,
    slice_rows: int,
    chosen: PeriodOptions,
) -> Export:
    span = summary_range(filters.period, tz)
    within = bounds(span, tz)
    params = {"tz": tz, **within}

    def batches() -> Iterator[pl.DataFrame]:
        window = occurred_window(span, tz)
        chats = chat.chosen_chats(
            reader, chat.ChatFilters(), tz, slice_rows, window, {"Chat ID": "chat_id"}
        )
        for batch in chats:
            rows = event_rows(reader, batch)
            reader.append(STAGED, reader.query([], ATTRIBUTED_SQL, within, rows=rows))
        reader.append(STAGED, reader.query([], ATTRIBUTED_SQL, within, rows=_no_rows(reader)))
        units = periods_cte(chosen.distribution)
        available = availability(reader, units, {**params, "now": datetime.now(UTC)})
        members = chosen_members(reader, filters, tz)
        sql = summary_sql(chosen.distribution)
        yield reader.query([], sql, params, members=members, available=available)

    return Export(HEADER, batches())


def _no_rows(reader: ReplicaReader) -> pl.DataFrame:
    return event_rows(reader, pl.DataFrame({"chat_id": []}, schema={"chat_id": pl.Int64}))


REPORT = ReportType(
    name="agent_summary",
    date_filter="period",
    reads=frozenset((*METRICS_TABLES, *STATUS_TABLES, "team_memberships", *chat.REPORT.reads)),
    label="Agent summary",
    description="Each agent's numbers per hour, day, weekday, week, month or year: chats "
    "assigned and resolved, replies, response and resolution times, ratings, and time "
    "online and away (also in business hours).",
    filters=AgentSummaryFilters,
    build=build,
    measures=tuple(MEASURES),
    options=PeriodOptions,
    example={
        "type": "agent_summary",
        "filters": {"period": {"from": "2026-11-02", "to": "2026-11-08"}},
        "timezone": "Europe/Berlin",
        "distribution": "weekday",
    },
)
