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

# The measures of one period and agent, over its staged events `f` and availability `a`.
MEASURES = {
    "Chats Assigned": "count(DISTINCT f.chat_id) FILTER (WHERE f.kind = 'assigned')",
    "Chats Resolved": "count(DISTINCT f.chat_id) FILTER (WHERE f.kind = 'resolved')",
    "Replies": "count(*) FILTER (WHERE f.kind = 'response')",
    "Average First Response (s)": (
        "round(avg(f.value_s) FILTER (WHERE f.kind = 'first_response'), 1)"
    ),
    "Average Response (s)": "round(avg(f.value_s) FILTER (WHERE f.kind = 'response'), 1)",
    "Average Resolution (s)": "round(avg(f.value_s) FILTER (WHERE f.kind = 'resolved'), 1)",
    "Rated": "count(f.csat_score)",
    "Average CSAT": "round(avg(f.csat_score), 2)",
    "Online (s)": "coalesce(round(any_value(a.online_s)), 0)::BIGINT",
    "Away (s)": "coalesce(round(any_value(a.away_s)), 0)::BIGINT",
    "Online, business hours (s)": "coalesce(round(any_value(a.online_bh_s)), 0)::BIGINT",
}
HEADER = ["Period", "Agent ID", "Agent Name", *MEASURES]


def summary_sql(distribution: Distribution) -> str:
    measures = ", ".join(f'{sql} AS "{name}"' for name, sql in MEASURES.items())
    return f"""
WITH {periods_cte(distribution)},
facts AS (
    SELECT f.*, u.label FROM {STAGED} f ASOF JOIN units u ON f.occurred_at >= u.unit_start
    WHERE f.occurred_at < u.unit_end),
grid AS (SELECT p.label, p.ord, m.member_id, m.member_name FROM periods p, members m)
SELECT grid.label AS "Period", grid.member_id AS "Agent ID", grid.member_name AS "Agent Name",
       {measures}
FROM grid
LEFT JOIN facts f ON f.label = grid.label AND f.member_id = grid.member_id
LEFT JOIN available a ON a.label = grid.label AND a.member_id = grid.member_id
GROUP BY grid.label, grid.ord, grid.member_id, grid.member_name
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
