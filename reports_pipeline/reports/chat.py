"""chat: the Home inbox (spec/reports.md, "chat").

Each slice of chats (in created_at, chat_id order) reads only its own related rows
(contacts, assignees, teams, labels, notes, tickets, bot sessions, messages), so memory
stays flat whatever the size of the organisation.
"""

from __future__ import annotations

from typing import Annotated, Literal

import polars as pl

from reports_pipeline.filters import (
    DateRange,
    MultiSetFilter,
    On,
    Predicates,
    ReportFilters,
    SetFilter,
    Text,
    TextSetFilter,
    options,
)
from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports import custom_fields
from reports_pipeline.reports.base import Export, ReportType, sliced_export

ChannelType = Literal["whatsapp_official", "whatsapp_unofficial", "email", "web_chat"]
NOTES_IN_SUMMARY = 5
NOTE_CHARS = 100
SUMMARY_SEPARATOR = " | "


class ChatFilters(ReportFilters):
    archived: Annotated[bool | None, On("archived")] = None
    high_priority: Annotated[bool | None, On("high_priority")] = None
    has_contacts: Annotated[bool | None, On("has_contacts")] = None
    bot_handled: Annotated[bool | None, On("bot_handled")] = None
    unanswered: Annotated[bool | None, On("unanswered")] = None
    agent_transferred: Annotated[bool | None, On("agent_transferred")] = None
    session_closed: Annotated[bool | None, On("session_closed")] = None
    autopilot: Annotated[bool | None, On("autopilot")] = None
    has_notes: Annotated[bool | None, On("has_notes")] = None
    has_tickets: Annotated[bool | None, On("has_tickets")] = None
    has_open_tickets: Annotated[bool | None, On("has_open_tickets")] = None
    assignees: Annotated[MultiSetFilter[int] | None, On("assignee_ids"), options("members")] = None
    teams: Annotated[MultiSetFilter[int] | None, On("team_ids"), options("teams")] = None
    labels: Annotated[MultiSetFilter[int] | None, On("label_ids"), options("labels")] = None
    workflow_states: Annotated[
        TextSetFilter | None, On("workflow_state"), options("workflow_states")
    ] = None
    channels: Annotated[SetFilter[int] | None, On("channel_id"), options("channels")] = None
    channel_types: Annotated[SetFilter[ChannelType] | None, On("channel_type")] = None
    chat_type: Annotated[SetFilter[Literal["individual", "group"]] | None, On("chat_type")] = None
    goals: Annotated[MultiSetFilter[int] | None, On("goal_ids"), options("goals")] = None
    created: Annotated[DateRange | None, On("created_at")] = None
    last_message: Annotated[DateRange | None, On("last_message_at")] = None
    search: Annotated[Text | None, On("name", "contact_name", "contact_phone", "contact_email")] = (
        None
    )
    contact_custom_fields: Annotated[Predicates | None, options("custom_fields")] = None


HEAD_COLUMNS: dict[str, pl.Expr] = {
    "Chat ID": pl.col("chat_id"),
    "Chat Name": pl.col("name"),
    "Chat Type": pl.col("chat_type"),
    "Channel": pl.col("channel"),
    "Channel Type": pl.col("channel_type"),
    "Created At": pl.col("created_at"),
    "Last Message At": pl.col("last_message_at"),
    "Contact ID": pl.col("contact_id"),
    "Contact Name": pl.col("contact_name"),
    "Contact Phone": pl.col("contact_phone"),
    "Contact Email": pl.col("contact_email"),
}
TAIL_COLUMNS: dict[str, pl.Expr] = {
    "Labels": pl.col("labels"),
    "Workflow State": pl.col("workflow_state"),
    "Archived": pl.col("archived"),
    "High Priority": pl.col("high_priority"),
    "Autopilot": pl.col("autopilot"),
    "Unanswered": pl.col("unanswered"),
    "Session Closed": pl.col("session_closed"),
    "Assignee Name": pl.col("assignee_name"),
    "Assignee Email": pl.col("assignee_email"),
    "All Assignees": pl.col("assignees"),
    "Teams": pl.col("teams"),
    "External Items": pl.col("external_items"),
    "Notes Count": pl.col("notes_count"),
    "Notes Summary": pl.col("notes_summary"),
    "Tickets Count": pl.col("tickets_count"),
    "Open Tickets": pl.col("open_tickets"),
    "Tickets Summary": pl.col("tickets_summary"),
    "Bot Session": pl.col("bot_session"),
    "Goals": pl.col("goals"),
    "Milestones": pl.col("milestones"),
    "Tracker Values": pl.col("tracker_values"),
    "First Response Time (s)": pl.col("first_response_s"),
    "Average Response Time (s)": pl.col("average_response_s"),
    "Resolution Time (s)": pl.col("resolution_s"),
}


# One query per slice: `c` is the slice's chats; every related table is read only for
# them (the id range lets DuckDB skip row groups, the semi-join keeps exactly the slice).
SLICE_SQL = """
WITH
links AS (
    SELECT chat_id, contact_id, is_primary FROM chat_contacts
    WHERE chat_id BETWEEN $lo AND $hi AND chat_id IN (SELECT chat_id FROM c)),
primary_contact AS (
    SELECT l.chat_id, l.contact_id, p.name AS contact_name, p.phone AS contact_phone,
           p.email AS contact_email
    FROM links l LEFT JOIN contacts p USING (contact_id) WHERE l.is_primary),
assigned AS (
    SELECT a.chat_id, list(a.member_id ORDER BY a.member_id) AS assignee_ids,
           list(m.name ORDER BY a.member_id) FILTER (WHERE m.name IS NOT NULL) AS assignees,
           any_value(m.name) FILTER (WHERE a.is_primary) AS assignee_name,
           any_value(m.email) FILTER (WHERE a.is_primary) AS assignee_email
    FROM chat_assignees a LEFT JOIN team_members m USING (member_id)
    WHERE a.chat_id BETWEEN $lo AND $hi AND a.chat_id IN (SELECT chat_id FROM c)
    GROUP BY a.chat_id),
in_teams AS (
    SELECT t.chat_id, list(t.team_id ORDER BY t.team_id) AS team_ids,
           list(n.name ORDER BY t.team_id) AS teams
    FROM chat_teams t LEFT JOIN teams n USING (team_id)
    WHERE t.chat_id BETWEEN $lo AND $hi AND t.chat_id IN (SELECT chat_id FROM c)
    GROUP BY t.chat_id),
labelled AS (
    SELECT t.chat_id, list(t.label_id ORDER BY t.label_id) AS label_ids,
           list(n.name ORDER BY t.label_id) AS labels
    FROM chat_labels t LEFT JOIN labels n USING (label_id)
    WHERE t.chat_id BETWEEN $lo AND $hi AND t.chat_id IN (SELECT chat_id FROM c)
    GROUP BY t.chat_id),
items AS (
    SELECT chat_id, list(item_ref ORDER BY item_ref) AS external_items FROM chat_external_items
    WHERE chat_id BETWEEN $lo AND $hi AND chat_id IN (SELECT chat_id FROM c) GROUP BY chat_id),
noted AS (
    SELECT chat_id, count(*) AS notes_count,
           array_to_string(list(left(coalesce(body, ''), $note_chars)
                                ORDER BY created_at, note_id)[1:$notes], ' | ') AS notes_summary
    FROM notes WHERE chat_id BETWEEN $lo AND $hi AND chat_id IN (SELECT chat_id FROM c)
    GROUP BY chat_id),
ticketed AS (
    SELECT t.chat_id, count(*) AS tickets_count,
           count(*) FILTER (WHERE NOT coalesce(s.is_closed, false)) AS open_tickets,
           string_agg(coalesce(i.name, '') || ' (' || coalesce(s.name, '') || ')', ' | '
                      ORDER BY t.created_at, t.ticket_id) AS tickets_summary
    FROM tickets t LEFT JOIN ticket_issues i USING (issue_id)
    LEFT JOIN ticket_statuses s USING (status_id)
    WHERE t.chat_id BETWEEN $lo AND $hi AND t.chat_id IN (SELECT chat_id FROM c)
    GROUP BY t.chat_id),
latest AS (
    SELECT chat_id, arg_max(session_id, (started_at, session_id)) AS session_id
    FROM bot_sessions WHERE chat_id BETWEEN $lo AND $hi AND chat_id IN (SELECT chat_id FROM c)
    GROUP BY chat_id),
session AS (
    SELECT l.chat_id, coalesce(j.name, '') || ' (' || s.status || ')' AS bot_session
    FROM latest l JOIN bot_sessions s USING (session_id)
    LEFT JOIN bot_journeys j USING (journey_id)),
reached AS (
    SELECT e.chat_id, list_distinct(list(e.goal_id)) AS goal_ids,
           list(g.name ORDER BY e.position) AS goals,
           list(e.milestone ORDER BY e.position) AS milestones
    FROM goal_events e JOIN latest l ON l.session_id = e.session_id
    LEFT JOIN goals g USING (goal_id)
    WHERE e.chat_id BETWEEN $lo AND $hi GROUP BY e.chat_id),
tracked AS (
    SELECT v.chat_id, list(v.tracker_name || ': ' || v.value ORDER BY e.position, v.tracker_name)
               AS tracker_values
    FROM tracker_values v JOIN latest l ON l.session_id = v.session_id
    JOIN goal_events e ON e.event_id = v.event_id
    WHERE v.chat_id BETWEEN $lo AND $hi GROUP BY v.chat_id),
said AS (
    SELECT chat_id, sender, sent_at,
           lag(sender) OVER (PARTITION BY chat_id ORDER BY sent_at) = 'user' AS after_user
    FROM messages WHERE chat_id BETWEEN $lo AND $hi AND chat_id IN (SELECT chat_id FROM c)),
waiting AS (
    SELECT *, last_value(CASE WHEN sender = 'user' AND NOT coalesce(after_user, false)
                              THEN sent_at END IGNORE NULLS)
              OVER (PARTITION BY chat_id ORDER BY sent_at ROWS UNBOUNDED PRECEDING) AS since
    FROM said),
replied AS (
    SELECT chat_id, arg_min(epoch(sent_at - since), sent_at)::BIGINT AS first_response_s,
           round(avg(epoch(sent_at - since)), 1) AS average_response_s
    FROM waiting WHERE sender <> 'user' AND after_user GROUP BY chat_id)
SELECT c.*, ch.name AS channel, ch.type AS channel_type,
       pc.contact_id, pc.contact_name, pc.contact_phone, pc.contact_email,
       c.chat_id IN (SELECT chat_id FROM links) AS has_contacts,
       a.assignee_ids, a.assignees, a.assignee_name, a.assignee_email,
       t.team_ids, t.teams, lb.label_ids, lb.labels, it.external_items,
       coalesce(n.notes_count, 0) AS notes_count, n.notes_summary,
       coalesce(n.notes_count, 0) > 0 AS has_notes,
       coalesce(tk.tickets_count, 0) AS tickets_count,
       coalesce(tk.open_tickets, 0) AS open_tickets, tk.tickets_summary,
       coalesce(tk.tickets_count, 0) > 0 AS has_tickets,
       coalesce(tk.open_tickets, 0) > 0 AS has_open_tickets,
       s.bot_session, r.goal_ids, r.goals, r.milestones, tr.tracker_values,
       rp.first_response_s, rp.average_response_s,
       CASE WHEN c.session_closed THEN epoch(c.last_message_at - c.created_at)::BIGINT END
           AS resolution_s
FROM c LEFT JOIN channels ch USING (channel_id)
LEFT JOIN primary_contact pc USING (chat_id) LEFT JOIN assigned a USING (chat_id)
LEFT JOIN in_teams t USING (chat_id) LEFT JOIN labelled lb USING (chat_id)
LEFT JOIN items it USING (chat_id) LEFT JOIN noted n USING (chat_id)
LEFT JOIN ticketed tk USING (chat_id) LEFT JOIN session s USING (chat_id)
LEFT JOIN reached r USING (chat_id) LEFT JOIN tracked tr USING (chat_id)
LEFT JOIN replied rp USING (chat_id)
"""

SLICE_TABLES = (
    "channels",
    "chat_contacts",
    "contacts",
    "chat_assignees",
    "team_members",
    "chat_teams",
    "teams",
    "chat_labels",
    "labels",
    "chat_external_items",
    "notes",
    "tickets",
    "ticket_issues",
    "ticket_statuses",
    "bot_sessions",
    "bot_journeys",
    "goal_events",
    "goals",
    "tracker_values",
    "messages",
)


def build(reader: ReplicaReader, filters: ChatFilters, tz: str, slice_rows: int) -> Export:
    fields = custom_fields.active_fields(reader)
    columns = HEAD_COLUMNS | {f.label: pl.col(f.column) for f in fields} | TAIL_COLUMNS
    where = filters.where(tz) & custom_fields.predicates_expr(filters.contact_custom_fields, fields)

    def enrich(chats: pl.DataFrame) -> pl.DataFrame:
        ids = chats["chat_id"]
        params = {
            "lo": ids.min(),
            "hi": ids.max(),
            "notes": NOTES_IN_SUMMARY,
            "note_chars": NOTE_CHARS,
        }
        frame = reader.query(SLICE_TABLES, SLICE_SQL, params, c=chats)
        values = custom_fields.values_for(reader, frame["contact_id"], fields)
        return frame.join(values, on="contact_id", how="left")

    return sliced_export(
        reader, ("chats", "created_at", "chat_id"), slice_rows, enrich, where, columns
    )


REPORT = ReportType(
    name="chat",
    label="Chat",
    description="Conversations in the Home inbox with contact, assignees, notes, tickets, "
    "bot journey and response times.",
    filters=ChatFilters,
    build=build,
    example={
        "type": "chat",
        "filters": {
            "high_priority": True,
            "labels": {"values": [1001, 1002], "require_every_value": True},
            "assignees": {"exists": False},
            "created": {"from": "2026-10-01", "to": "2026-10-31"},
        },
        "timezone": "Asia/Kolkata",
    },
)
