"""The conversation metrics of docs/metrics.md, computed once, in DuckDB, for a set of chats.

A chat's life is a run of interactions (a reopen starts the next); within one, a wait
starts at a customer message that begins it or follows another sender's message and ends
at the next agent or bot message, its reply. Every duration also exists in business
hours: the organisation's open intervals (in its own zone, holidays closed) are laid out
as instants with the open seconds before each, so the business seconds up to any instant
are one ASOF join away, and those of a span are a difference of two such clocks.

Every export that shows a response, resolution or business-hours figure takes it from
here: `chat_metrics` per chat, `message_metrics` per message.
"""

# The queries are composed of this module's own text; every value is a parameter.
# ruff: noqa: S608

from __future__ import annotations

import polars as pl

from reports_pipeline.replica import ReplicaReader

# What the metrics read.
METRICS_TABLES = (
    "messages",
    "chat_events",
    "ratings",
    "resolution_labels",
    "business_hours",
    "holidays",
    "organisations",
)
# What the status changes' durations read.
STATUS_TABLES = ("member_status", "business_hours", "holidays", "organisations")

# The chats asked about are `c` (a frame with `chat_id`); `$lo`/`$hi` bound their ids, so
# DuckDB skips the row groups of other chats.
IN_CHATS = "chat_id BETWEEN $lo AND $hi AND chat_id IN (SELECT chat_id FROM c)"


def clock(moments: str) -> str:
    """The open intervals around the instants `moments` selects (one column `moment`), as
    instants with the open seconds before each (`before_s`); `always_open` when the
    organisation has no business hours."""
    return f"""
zone AS (SELECT coalesce(any_value(timezone), 'UTC') AS tz FROM organisations),
span AS (
    SELECT (min(moment) AT TIME ZONE any_value(tz))::DATE - 2 AS first_day,
           (max(moment) AT TIME ZONE any_value(tz))::DATE + 2 AS last_day
    FROM ({moments}) m, zone),
days AS (
    SELECT d::DATE AS day FROM span,
           range(first_day::TIMESTAMP, last_day::TIMESTAMP + INTERVAL 1 DAY, INTERVAL 1 DAY) t(d)),
opened AS (
    SELECT timezone(tz, d.day + b.opens::TIME) AS opens_at,
           timezone(tz, d.day + b.closes::TIME
                    + CASE WHEN b.closes <= b.opens THEN INTERVAL 1 DAY ELSE INTERVAL 0 DAY END)
               AS closes_at
    FROM days d JOIN business_hours b ON isodow(d.day) = b.weekday, zone
    WHERE d.day NOT IN (SELECT day FROM holidays)),
spans AS (
    SELECT opens_at, closes_at, epoch(closes_at) - epoch(opens_at) AS open_s,
           coalesce(sum(epoch(closes_at) - epoch(opens_at)) OVER (
               ORDER BY opens_at ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
               AS before_s
    FROM opened),
always_open AS (SELECT count(*) = 0 AS yes FROM business_hours)"""


CLOCK = clock(f"SELECT sent_at AS moment FROM messages WHERE {IN_CHATS}")


def business_clock(relation: str, moment: str) -> str:
    """`relation` with `clock_s`: the business seconds up to `moment` (any origin: only
    differences of two clocks mean something)."""
    return f"""
    SELECT r.*,
           CASE WHEN (SELECT yes FROM always_open) THEN epoch(r.{moment})
                ELSE coalesce(s.before_s + least(greatest(epoch(r.{moment}) - epoch(s.opens_at), 0),
                                                 s.open_s), 0) END AS clock_s
    FROM {relation} r ASOF LEFT JOIN spans s ON r.{moment} >= s.opens_at"""


# Each message with its interaction, its business clock and, for a reply, its wait.
MESSAGES = f"""
msg AS (SELECT chat_id, message_id, sender, member_id, sent_at FROM messages WHERE {IN_CHATS}),
reopens AS (
    SELECT chat_id, event_id, occurred_at FROM chat_events
    WHERE {IN_CHATS} AND event_type = 'reopened'),
timeline AS (
    SELECT chat_id, sent_at AS moment, 1 AS ord, message_id AS id, sender, member_id FROM msg
    UNION ALL
    SELECT chat_id, occurred_at, 0, event_id, NULL, NULL FROM reopens),
numbered AS (
    SELECT *, 1 + count(*) FILTER (WHERE ord = 0) OVER (
               PARTITION BY chat_id ORDER BY moment, ord, id ROWS UNBOUNDED PRECEDING)
               AS interaction
    FROM timeline),
clocked AS ({business_clock("(SELECT * FROM numbered WHERE ord = 1)", "moment")}),
ordered AS (
    SELECT *, lag(sender) OVER w AS previous FROM clocked
    WINDOW w AS (PARTITION BY chat_id, interaction ORDER BY moment, id)),
waits AS (
    SELECT *,
           last_value(CASE WHEN opens THEN moment END IGNORE NULLS) OVER w AS wait_at,
           last_value(CASE WHEN opens THEN clock_s END IGNORE NULLS) OVER w AS wait_clock_s
    FROM (SELECT *, sender = 'user' AND coalesce(previous <> 'user', true) AS opens FROM ordered)
    WINDOW w AS (PARTITION BY chat_id, interaction ORDER BY moment, id ROWS UNBOUNDED PRECEDING)),
replies AS (
    SELECT chat_id, id AS message_id, interaction, moment AS sent_at, sender, member_id,
           CASE WHEN sender <> 'user' AND previous = 'user'
                THEN epoch(moment - wait_at)::BIGINT END AS response_s,
           CASE WHEN sender <> 'user' AND previous = 'user'
                THEN (clock_s - wait_clock_s)::BIGINT END AS response_bh_s
    FROM waits)"""

MESSAGE_METRICS_SQL = f"""
WITH {CLOCK}, {MESSAGES}
SELECT message_id, interaction, response_s, response_bh_s FROM replies"""

# Each chat event with its interaction (a reopen opens the next one) and business clock.
EVENTS = f"""
events AS (
    SELECT *, 1 + count(*) FILTER (WHERE event_type = 'reopened') OVER (
               PARTITION BY chat_id ORDER BY event_id ROWS UNBOUNDED PRECEDING) AS interaction
    FROM chat_events WHERE {IN_CHATS}),
events_clocked AS ({business_clock("events", "occurred_at")})"""

CHAT_METRICS_SQL = f"""
WITH {CLOCK}, {MESSAGES}, {EVENTS},
per_interaction AS (
    SELECT chat_id, interaction,
           arg_min(response_s, sent_at) FILTER (WHERE response_s IS NOT NULL) AS first_response_s,
           arg_min(response_bh_s, sent_at) FILTER (WHERE response_s IS NOT NULL)
               AS first_response_bh_s
    FROM replies GROUP BY chat_id, interaction),
replied AS (
    SELECT chat_id, count(response_s) AS reply_count, sum(response_s) AS total_reply_s,
           sum(response_bh_s) AS total_reply_bh_s,
           epoch(max(sent_at) - min(sent_at))::BIGINT AS duration_s
    FROM replies GROUP BY chat_id),
lives AS (
    SELECT chat_id, max(interaction) AS interactions,
           any_value(occurred_at) FILTER (WHERE event_type = 'created') AS created_at,
           any_value(clock_s) FILTER (WHERE event_type = 'created') AS created_clock_s,
           arg_max(event_type, event_id) FILTER (WHERE event_type IN ('resolved', 'reopened'))
               AS last_turn,
           arg_max(occurred_at, event_id) FILTER (WHERE event_type = 'resolved') AS resolved_at,
           arg_max(clock_s, event_id) FILTER (WHERE event_type = 'resolved') AS resolved_clock_s,
           arg_max(resolution_label_id, event_id) FILTER (WHERE event_type = 'resolved')
               AS final_label_id
    FROM events_clocked GROUP BY chat_id),
latest_rating AS (
    SELECT chat_id, arg_max(score, (rated_at, rating_id)) AS csat_score,
           arg_max(comment, (rated_at, rating_id)) AS csat_comment
    FROM ratings WHERE {IN_CHATS} GROUP BY chat_id)
SELECT c.chat_id, coalesce(l.interactions, 1) AS interactions,
       coalesce(l.interactions, 1) > 1 AS reopened,
       f.first_response_s, f.first_response_bh_s,
       coalesce(r.reply_count, 0) AS reply_count, r.total_reply_s::BIGINT AS total_reply_s,
       round(r.total_reply_s / nullif(r.reply_count, 0), 1) AS average_response_s,
       round(r.total_reply_bh_s / nullif(r.reply_count, 0), 1) AS average_response_bh_s,
       CASE WHEN l.last_turn = 'resolved'
            THEN epoch(l.resolved_at - l.created_at)::BIGINT END AS resolution_s,
       CASE WHEN l.last_turn = 'resolved'
            THEN (l.resolved_clock_s - l.created_clock_s)::BIGINT END AS resolution_bh_s,
       r.duration_s,
       CASE WHEN l.last_turn = 'resolved' THEN l.final_label_id END AS resolution_label_id,
       CASE WHEN l.last_turn = 'resolved' AND l.final_label_id IS NOT NULL
            THEN n.category || ' / ' || n.sub_category END AS resolution_label,
       x.csat_score IS NOT NULL AS rated, x.csat_score, x.csat_comment
FROM (SELECT DISTINCT chat_id FROM c) c
LEFT JOIN lives l USING (chat_id)
LEFT JOIN per_interaction f ON f.chat_id = c.chat_id AND f.interaction = 1
LEFT JOIN replied r ON r.chat_id = c.chat_id
LEFT JOIN resolution_labels n ON n.resolution_label_id = l.final_label_id
LEFT JOIN latest_rating x ON x.chat_id = c.chat_id"""


# The event rows of docs/report-types.md ("event"), one shape for every kind: the chat's
# events, each interaction's replies (`response`; its first also `first_response`) and
# ratings. `value_s` is a reply's response time, a resolution's interaction resolution time.
EVENT_ROWS_SQL = f"""
WITH {CLOCK}, {MESSAGES}, {EVENTS},
starts AS (
    SELECT chat_id, interaction, occurred_at AS started_at, clock_s AS started_clock_s
    FROM events_clocked WHERE event_type IN ('created', 'reopened')),
answered AS (
    SELECT *, row_number() OVER (
               PARTITION BY chat_id, interaction ORDER BY sent_at, message_id) AS nth
    FROM replies WHERE response_s IS NOT NULL),
rated AS (
    SELECT r.rating_id, r.chat_id, r.rated_at, r.score, r.comment, r.issue_resolved,
           1 + count(o.event_id) AS interaction
    FROM (SELECT * FROM ratings WHERE {IN_CHATS}) r
    LEFT JOIN reopens o ON o.chat_id = r.chat_id AND o.occurred_at <= r.rated_at
    GROUP BY ALL)
SELECT e.event_type, e.event_id, e.occurred_at, e.chat_id, e.interaction, e.actor_type,
       e.member_id, e.team_id,
       CASE WHEN e.event_type = 'resolved'
            THEN epoch(e.occurred_at - s.started_at)::BIGINT END AS value_s,
       CASE WHEN e.event_type = 'resolved'
            THEN (e.clock_s - s.started_clock_s)::BIGINT END AS value_bh_s,
       NULL::BIGINT AS csat_score, NULL::VARCHAR AS csat_comment,
       NULL::BOOLEAN AS issue_resolved, e.resolution_label_id, e.reopen_cause,
       NULL::VARCHAR AS status
FROM events_clocked e LEFT JOIN starts s USING (chat_id, interaction)
UNION ALL
SELECT kind, message_id, sent_at, chat_id, interaction, sender, member_id, NULL, response_s,
       response_bh_s, NULL, NULL, NULL, NULL, NULL, NULL
FROM answered, (VALUES ('response'), ('first_response')) k(kind)
WHERE kind = 'response' OR nth = 1
UNION ALL
SELECT 'csat', rating_id, rated_at, chat_id, interaction, 'customer', NULL, NULL, NULL, NULL,
       score, comment, issue_resolved, NULL, NULL, NULL
FROM rated"""

# Every status change of the organisation's members, in the same shape: `value_s` is how
# long the member's previous status lasted.
STATUS_ROWS_SQL = f"""
WITH {clock("SELECT changed_at AS moment FROM member_status")},
changes AS ({business_clock("member_status", "changed_at")}),
lasted AS (
    SELECT *, lag(changed_at) OVER w AS previous_at, lag(clock_s) OVER w AS previous_clock_s
    FROM changes WINDOW w AS (PARTITION BY member_id ORDER BY changed_at, status_change_id))
SELECT 'agent_status' AS event_type, status_change_id AS event_id, changed_at AS occurred_at,
       NULL::BIGINT AS chat_id, NULL::BIGINT AS interaction, 'agent' AS actor_type, member_id,
       NULL::BIGINT AS team_id, epoch(changed_at - previous_at)::BIGINT AS value_s,
       (clock_s - previous_clock_s)::BIGINT AS value_bh_s, NULL::BIGINT AS csat_score,
       NULL::VARCHAR AS csat_comment, NULL::BOOLEAN AS issue_resolved,
       NULL::BIGINT AS resolution_label_id, NULL::VARCHAR AS reopen_cause, status
FROM lasted"""


def _bounds(chats: pl.DataFrame) -> dict[str, int]:
    ids = chats["chat_id"]
    return {"lo": ids.min() or 0, "hi": ids.max() or 0}  # type: ignore[dict-item]


def chat_metrics(reader: ReplicaReader, chats: pl.DataFrame) -> pl.DataFrame:
    """One row per chat of `chats` (a frame with `chat_id`): its interactions, replies,
    response, resolution and duration times (also in business hours), final resolution
    label and latest rating."""
    return reader.query(METRICS_TABLES, CHAT_METRICS_SQL, _bounds(chats), c=chats.select("chat_id"))


def message_metrics(reader: ReplicaReader, chats: pl.DataFrame) -> pl.DataFrame:
    """One row per message of `chats`: its interaction and, for a reply, its response
    time (also in business hours)."""
    return reader.query(
        METRICS_TABLES, MESSAGE_METRICS_SQL, _bounds(chats), c=chats.select("chat_id")
    )


def event_rows(reader: ReplicaReader, chats: pl.DataFrame) -> pl.DataFrame:
    """The events of `chats` (a frame with `chat_id`): each chat event, reply (as
    `response`, the first of an interaction also as `first_response`) and rating, with its
    interaction and value (also in business hours)."""
    return reader.query(METRICS_TABLES, EVENT_ROWS_SQL, _bounds(chats), c=chats.select("chat_id"))


def status_rows(reader: ReplicaReader) -> pl.DataFrame:
    """Every status change of the organisation's members, in `event_rows`' shape, with how
    long the previous status lasted (also in business hours)."""
    return reader.query(STATUS_TABLES, STATUS_ROWS_SQL)


def availability_sql(units: str) -> str:
    """Each member's seconds `online` and `away`, and online inside business hours, per
    period: `units` is a CTE list ending in `units` (`label`, `unit_start`, `unit_end`, as
    `reports_pipeline.periods` lays them out). A status lasts until the member's next
    change, the last one until `$now`."""
    return f"""
WITH {units},
statuses AS (
    SELECT member_id, status, changed_at AS span_start,
           coalesce(lead(changed_at) OVER (PARTITION BY member_id
                                           ORDER BY changed_at, status_change_id),
                    greatest($now::TIMESTAMPTZ, changed_at)) AS span_end
    FROM member_status),
pieces AS (
    SELECT s.member_id, s.status, u.label,
           greatest(s.span_start, u.unit_start) AS piece_start,
           least(s.span_end, u.unit_end) AS piece_end
    FROM statuses s JOIN units u ON s.span_start < u.unit_end AND s.span_end > u.unit_start
    WHERE s.status IN ('online', 'away')),
{clock("SELECT piece_start AS moment FROM pieces UNION ALL SELECT piece_end FROM pieces")},
started AS ({business_clock("pieces", "piece_start")}),
ended AS ({
        business_clock("(SELECT * RENAME (clock_s AS start_clock_s) FROM started)", "piece_end")
    })
SELECT label, member_id,
       coalesce(sum(epoch(piece_end) - epoch(piece_start)) FILTER (WHERE status = 'online'), 0)
           AS online_s,
       coalesce(sum(epoch(piece_end) - epoch(piece_start)) FILTER (WHERE status = 'away'), 0)
           AS away_s,
       coalesce(sum(clock_s - start_clock_s) FILTER (WHERE status = 'online'), 0) AS online_bh_s
FROM ended GROUP BY label, member_id"""


def availability(reader: ReplicaReader, units: str, params: dict[str, object]) -> pl.DataFrame:
    """`availability_sql` over the organisation's status changes."""
    return reader.query(STATUS_TABLES, availability_sql(units), params)
