"""chat_summary: the chats' numbers per period (docs/report-types.md, "chat_summary").

The chats are chosen exactly as the chat export chooses them (every chat filter, `created`
the range), each with only the metrics the summary needs; their few columns are staged in
the reader's scratch database, and one grouped DuckDB query over them and the calendar of
periods (`reports_pipeline.periods`) gives every period of the range, in order, empty ones
included. A chat belongs to the period of its creation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import polars as pl
from pydantic import Field

from reports_pipeline.periods import PeriodOptions, bounds, periods_cte, summary_range
from reports_pipeline.replica import EVERY_ROW, SCRATCH, ReplicaReader
from reports_pipeline.reports import chat
from reports_pipeline.reports.base import Export, ReportType

GroupBy = Literal["none", "agent", "team", "channel", "label"]


class ChatSummaryOptions(PeriodOptions):
    group_by: GroupBy = Field(
        "none",
        description="One row per period and `agent` (primary assignee), `team`, `channel` or "
        "`label`; a chat counts in each of its teams' and labels' groups.",
    )


# What each chat contributes, under the chat export's headers.
CHAT_COLUMNS = {
    "Chat ID": "chat_id",
    "Created At": "created_at",
    "Reopened": "reopened",
    "Unanswered": "unanswered",
    "Reply Count": "reply_count",
    "Total Reply Time (s)": "total_reply_s",
    "Duration (s)": "duration_s",
    "First Response Time (s)": "first_response_s",
    "Resolution Time (s)": "resolution_s",
    "First Response Time, business hours (s)": "first_response_bh_s",
    "Resolution Time, business hours (s)": "resolution_bh_s",
    "CSAT Score": "csat_score",
}
# The chat export's column each grouping reads; a list counts the chat in each item.
GROUP_COLUMNS = {
    "agent": "Assignee Name",
    "team": "Teams",
    "channel": "Channel",
    "label": "Labels",
}
STAGED = f"{SCRATCH}.chat_summary"
COUNTS = list(CHAT_COLUMNS.values())[4:]  # the integer columns
STAGED_SCHEMA = pl.Schema(
    [
        ("chat_id", pl.Int64()),
        ("created_at", pl.Datetime("us", "UTC")),
        ("reopened", pl.Boolean()),
        ("unanswered", pl.Boolean()),
        *((name, pl.Int64()) for name in COUNTS),
        ("grp", pl.List(pl.String)),
    ]
)

# The measures of one period (and group), over its chats `f`.
MEASURES = {
    "Chats": "count(f.chat_id)",
    "Resolved": "count(f.resolution_s)",
    "Reopened": "count(*) FILTER (WHERE f.reopened)",
    "Unanswered": "count(*) FILTER (WHERE f.unanswered)",
    "Replies": "coalesce(sum(f.reply_count), 0)::BIGINT",
    "Average Duration (s)": "round(avg(f.duration_s), 1)",
    "Average First Response (s)": "round(avg(f.first_response_s), 1)",
    "Median First Response (s)": "round(median(f.first_response_s), 1)",
    "Average Response (s)": "round(sum(f.total_reply_s) / nullif(sum(f.reply_count), 0), 1)",
    "Average Resolution (s)": "round(avg(f.resolution_s), 1)",
    "Average First Response, business hours (s)": "round(avg(f.first_response_bh_s), 1)",
    "Average Resolution, business hours (s)": "round(avg(f.resolution_bh_s), 1)",
    "Rated": "count(f.csat_score)",
    "Average CSAT": "round(avg(f.csat_score), 2)",
    "Good Ratings": "count(*) FILTER (WHERE f.csat_score >= 4)",
    "Bad Ratings": "count(*) FILTER (WHERE f.csat_score <= 2)",
}


class ChatSummaryFilters(chat.ChatFilters):
    """Every chat filter; `created` is the summary's range."""


def summary_sql(options: ChatSummaryOptions) -> str:
    """Every period (and group) of the range with its measures, over the staged chats.
    Grouped, every group with a chat in the range appears in every period (one empty
    group when there is none)."""
    grouped = options.group_by != "none"
    measures = ", ".join(f'{sql} AS "{name}"' for name, sql in MEASURES.items())
    group = "unnest(CASE WHEN len(grp) > 0 THEN grp ELSE [NULL] END)" if grouped else "NULL"
    return f"""
WITH {periods_cte(options.distribution)},
facts AS NOT MATERIALIZED (  -- read twice: never held in memory
    SELECT s.* EXCLUDE (grp), {group} AS grp, u.label
    FROM {STAGED} s ASOF JOIN units u ON s.created_at >= u.unit_start
    WHERE s.created_at < u.unit_end),
groups AS (
    SELECT DISTINCT grp FROM facts
    UNION ALL SELECT NULL WHERE NOT EXISTS (SELECT 1 FROM facts)),
grid AS (SELECT p.label, p.ord, g.grp FROM periods p, groups g)
SELECT grid.label AS "Period", {'grid.grp AS "Group",' if grouped else ""} {measures}
FROM grid LEFT JOIN facts f ON f.label = grid.label AND f.grp IS NOT DISTINCT FROM grid.grp
GROUP BY grid.label, grid.ord, grid.grp
ORDER BY grid.ord, grid.grp NULLS LAST"""  # noqa: S608 - our own text; values are parameters


def build(
    reader: ReplicaReader,
    filters: ChatSummaryFilters,
    tz: str,
    slice_rows: int,
    options: ChatSummaryOptions,
) -> Export:
    chosen_range = summary_range(filters.created, tz)
    chosen = chat.ChatFilters.of(filters, created=chosen_range)
    grouping = GROUP_COLUMNS.get(options.group_by)
    columns = {**CHAT_COLUMNS, **({grouping: "grp"} if grouping else {})}

    def batches() -> Iterator[pl.DataFrame]:
        for batch in chat.chosen_chats(reader, chosen, tz, slice_rows, EVERY_ROW, columns):
            reader.append(STAGED, _staged(batch, grouping is not None))
        reader.append(STAGED, pl.DataFrame(schema=STAGED_SCHEMA))  # its shape, without chats
        yield reader.query([], summary_sql(options), {"tz": tz, **bounds(chosen_range, tz)})

    header = ["Period", *(["Group"] if grouping else []), *MEASURES]
    return Export(header, batches())


def _staged(batch: pl.DataFrame, grouped: bool) -> pl.DataFrame:
    """A batch of chosen chats as the staged table holds them: `grp` always a list."""
    group = pl.col("grp") if grouped else pl.lit(None)
    if grouped and batch.schema["grp"] != pl.List(pl.String):
        group = pl.concat_list(group)
    staged = batch.with_columns(grp=group.cast(pl.List(pl.String))).select(*STAGED_SCHEMA.names())
    return staged.cast(STAGED_SCHEMA)


REPORT = ReportType(
    name="chat_summary",
    reads=chat.REPORT.reads,
    label="Chat summary",
    description="The chats' numbers per hour, day, weekday, week, month or year: chats, "
    "resolutions, reopens, replies, response and resolution times (also in business hours) "
    "and ratings, optionally per agent, team, channel or label.",
    filters=ChatSummaryFilters,
    build=build,
    measures=tuple(MEASURES),
    options=ChatSummaryOptions,
    example={
        "type": "chat_summary",
        "filters": {"created": {"from": "2026-11-01", "to": "2026-11-30"}},
        "timezone": "America/New_York",
        "distribution": "day",
        "group_by": "channel",
    },
)
