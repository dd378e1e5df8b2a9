"""chat: the Home inbox (docs/report-types.md, "chat").

Each slice of chats (in created_at, chat_id order) reads only its own related rows
(assignees, teams, labels, notes, tickets, bot sessions, messages), so memory stays flat
whatever the size of the organisation. The primary contacts and their custom fields, which
lie anywhere in the contact tables, are looked up for many slices at once
(`reports_pipeline.reports.contact_lookups`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Annotated, Any, Literal

import polars as pl

from reports_pipeline.columns import fixed, headed
from reports_pipeline.filters import (
    DateRange,
    MultiSetFilter,
    NumberRange,
    On,
    Predicates,
    ReportFilters,
    SetFilter,
    Text,
    TextSetFilter,
    options,
    shown,
)
from reports_pipeline.metrics import METRICS_TABLES, chat_metrics
from reports_pipeline.pushdown import Narrowing, Related, Searched, Valued
from reports_pipeline.replica import EVERY_ROW, Prefilter, ReplicaReader
from reports_pipeline.reports import custom_fields
from reports_pipeline.reports.base import BaseTable, Export, ReportType, sliced_export
from reports_pipeline.reports.contact_lookups import (
    CHAT_CONTACT_COLUMNS,
    CHAT_CONTACT_SELECT,
    PRIMARY_CONTACT,
    ContactLookups,
)

ChannelType = Literal["whatsapp_official", "whatsapp_unofficial", "email", "web_chat"]
NOTES_IN_SUMMARY = 5
NOTE_CHARS = 100
SUMMARY_SEPARATOR = " | "


# Team ids, any of them or every one, on a row's `team_ids` (a chat's teams here; an event's
# or an agent's where other types take the filter).
Teams = Annotated[
    MultiSetFilter[int] | None, On("team_ids"), options("teams"), shown(group="people")
]


class ChatFilters(ReportFilters):
    archived: Annotated[bool | None, On("archived")] = None
    high_priority: Annotated[bool | None, On("high_priority")] = None
    has_contacts: Annotated[bool | None, On("has_contacts")] = None
    bot_handled: Annotated[bool | None, On("bot_handled"), shown("Handled by a bot")] = None
    unanswered: Annotated[bool | None, On("unanswered")] = None
    agent_transferred: Annotated[
        bool | None, On("agent_transferred"), shown("Transferred to an agent")
    ] = None
    session_closed: Annotated[bool | None, On("session_closed")] = None
    autopilot: Annotated[bool | None, On("autopilot")] = None
    has_notes: Annotated[bool | None, On("has_notes")] = None
    has_tickets: Annotated[bool | None, On("has_tickets")] = None
    has_open_tickets: Annotated[bool | None, On("has_open_tickets")] = None
    assignees: Annotated[
        MultiSetFilter[int] | None, On("assignee_ids"), options("members"), shown(group="people")
    ] = None
    teams: Teams = None
    labels: Annotated[MultiSetFilter[int] | None, On("label_ids"), options("labels")] = None
    workflow_states: Annotated[
        TextSetFilter | None,
        On("workflow_state"),
        options("workflow_states"),
        shown("Workflow state"),
    ] = None
    channels: Annotated[
        SetFilter[int] | None, On("channel_id"), options("channels"), shown(group="people")
    ] = None
    channel_types: Annotated[
        SetFilter[ChannelType] | None, On("channel_type"), shown(group="people")
    ] = None
    chat_type: Annotated[SetFilter[Literal["individual", "group"]] | None, On("chat_type")] = None
    goals: Annotated[MultiSetFilter[int] | None, On("goal_ids"), options("goals")] = None
    created: Annotated[DateRange | None, On("created_at")] = None
    last_message: Annotated[DateRange | None, On("last_message_at")] = None
    search: Annotated[Text | None, On("name", "contact_name", "contact_phone", "contact_email")] = (
        None
    )
    contact_custom_fields: Annotated[
        Predicates | None, options("custom_fields"), shown("Contact fields")
    ] = None
    reopened: Annotated[bool | None, On("reopened")] = None
    rated: Annotated[bool | None, On("rated")] = None
    csat: Annotated[NumberRange | None, On("csat_score"), shown("CSAT score", unit="1-5")] = None
    resolution_labels: Annotated[
        SetFilter[int] | None, On("resolution_label_id"), options("resolution_labels")
    ] = None

    @classmethod
    def of(cls, filters: ChatFilters, **replaced: Any) -> ChatFilters:
        """The chat filters among a wider type's `filters` (one that chooses its chats with
        the chat export), with any of them `replaced`."""
        values = {name: getattr(filters, name) for name in cls.model_fields}
        return cls.model_construct(**{**values, **replaced})


# Filters on a chat's related rows the replica query can narrow by (semi-joins).
RELATED: dict[str, Narrowing] = {
    "assignees": Related("chat_assignees", "chat_id", "member_id"),
    "teams": Related("chat_teams", "chat_id", "team_id"),
    "labels": Related("chat_labels", "chat_id", "label_id"),
    "has_contacts": Related("chat_contacts", "chat_id"),
    "has_notes": Related("notes", "chat_id"),
    "has_tickets": Related("tickets", "chat_id"),
    "has_open_tickets": Related("tickets", "chat_id"),
    # Any contact of the chat, not only the primary one: it may keep more, never fewer.
    "search": Searched(
        ("chat_contacts", "contacts"),
        # Uncorrelated: DuckDB searches the contacts once and hash-joins the chats.
        """contains(lower(chats.name), {needle}) OR chats.chat_id IN (
               SELECT cc.chat_id FROM chat_contacts cc JOIN contacts p USING (contact_id)
               WHERE contains(lower(p.name), {needle}) OR contains(lower(p.phone), {needle})
                     OR contains(lower(p.email), {needle}))""",
    ),
    # The values of any contact of the chat (the export reads the primary one's).
    "contact_custom_fields": Valued(
        ("chat_contacts", "contact_field_values"),
        """EXISTS (SELECT 1 FROM chat_contacts cc JOIN (
               SELECT contact_id, field_key AS name, value FROM contact_field_values
           ) v USING (contact_id) WHERE cc.chat_id = chats.chat_id AND {condition})""",
    ),
}

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
    "Interactions": pl.col("interactions"),
    "Reopened": pl.col("reopened"),
    "Reply Count": pl.col("reply_count"),
    "Total Reply Time (s)": pl.col("total_reply_s"),
    "Duration (s)": pl.col("duration_s"),
    "First Response Time, business hours (s)": pl.col("first_response_bh_s"),
    "Average Response Time, business hours (s)": pl.col("average_response_bh_s"),
    "Resolution Time, business hours (s)": pl.col("resolution_bh_s"),
    "Resolution Label": pl.col("resolution_label"),
    "CSAT Score": pl.col("csat_score"),
    "CSAT Comment": pl.col("csat_comment"),
}
# What the metrics module adds to each chat (`reports_pipeline.metrics`).
METRIC_COLUMNS = frozenset(
    (
        "interactions",
        "reopened",
        "reply_count",
        "total_reply_s",
        "duration_s",
        "first_response_s",
        "average_response_s",
        "resolution_s",
        "first_response_bh_s",
        "average_response_bh_s",
        "resolution_bh_s",
        "resolution_label_id",
        "resolution_label",
        "rated",
        "csat_score",
        "csat_comment",
    )
)


# The slice's chats are `c`; every related table is read only for them (the id range lets
# DuckDB skip row groups, the semi-join keeps exactly the slice). Each piece is its own
# query, joined to the chats in Polars: one query joining them all kept every hash table
# and scan buffer alive at once, ~180 MB of DuckDB memory whatever the slice size.
IN_SLICE = "BETWEEN $lo AND $hi AND {alias}chat_id IN (SELECT chat_id FROM c)"

CHATS_SQL = """
SELECT c.*, ch.name AS channel, ch.type AS channel_type
FROM c LEFT JOIN channels ch USING (channel_id)"""

PIECES_SQL: tuple[str, ...] = (
    # The primary contact's own columns are looked up apart (`contact_lookups`).
    """
    SELECT chat_id, any_value(contact_id) FILTER (WHERE is_primary) AS contact_id,
           true AS has_contacts
    FROM chat_contacts WHERE chat_id {in_slice} GROUP BY chat_id""",
    """
    SELECT a.chat_id, list(a.member_id ORDER BY a.member_id) AS assignee_ids,
           list(m.name ORDER BY a.member_id) FILTER (WHERE m.name IS NOT NULL) AS assignees,
           any_value(m.name) FILTER (WHERE a.is_primary) AS assignee_name,
           any_value(m.email) FILTER (WHERE a.is_primary) AS assignee_email
    FROM chat_assignees a LEFT JOIN team_members m USING (member_id)
    WHERE a.chat_id {in_slice_a} GROUP BY a.chat_id""",
    """
    SELECT t.chat_id, list(t.team_id ORDER BY t.team_id) AS team_ids,
           list(n.name ORDER BY t.team_id) AS teams
    FROM chat_teams t LEFT JOIN teams n USING (team_id)
    WHERE t.chat_id {in_slice_t} GROUP BY t.chat_id""",
    """
    SELECT t.chat_id, list(t.label_id ORDER BY t.label_id) AS label_ids,
           list(n.name ORDER BY t.label_id) AS labels
    FROM chat_labels t LEFT JOIN labels n USING (label_id)
    WHERE t.chat_id {in_slice_t} GROUP BY t.chat_id""",
    """
    SELECT chat_id, list(item_ref ORDER BY item_ref) AS external_items
    FROM chat_external_items WHERE chat_id {in_slice} GROUP BY chat_id""",
    """
    SELECT chat_id, count(*) AS notes_count,
           array_to_string(list(left(coalesce(body, ''), $note_chars)
                                ORDER BY created_at, note_id)[1:$notes], ' | ') AS notes_summary
    FROM notes WHERE chat_id {in_slice} GROUP BY chat_id""",
    """
    SELECT t.chat_id, count(*) AS tickets_count,
           count(*) FILTER (WHERE NOT coalesce(s.is_closed, false)) AS open_tickets,
           string_agg(coalesce(i.name, '') || ' (' || coalesce(s.name, '') || ')', ' | '
                      ORDER BY t.created_at, t.ticket_id) AS tickets_summary
    FROM tickets t LEFT JOIN ticket_issues i USING (issue_id)
    LEFT JOIN ticket_statuses s USING (status_id)
    WHERE t.chat_id {in_slice_t} GROUP BY t.chat_id""",
    """
    WITH latest AS (
        SELECT chat_id, arg_max(session_id, (started_at, session_id)) AS session_id
        FROM bot_sessions WHERE chat_id {in_slice} GROUP BY chat_id),
    reached AS (
        SELECT e.chat_id, list_sort(list_distinct(list(e.goal_id))) AS goal_ids,
               list(g.name ORDER BY e.position) AS goals,
               list(e.milestone ORDER BY e.position) AS milestones
        FROM goal_events e JOIN latest l ON l.session_id = e.session_id
        LEFT JOIN goals g USING (goal_id)
        WHERE e.chat_id BETWEEN $lo AND $hi GROUP BY e.chat_id),
    tracked AS (
        SELECT v.chat_id,
               list(v.tracker_name || ': ' || v.value ORDER BY e.position, v.tracker_name)
                   AS tracker_values
        FROM tracker_values v JOIN latest l ON l.session_id = v.session_id
        JOIN goal_events e ON e.event_id = v.event_id
        WHERE v.chat_id BETWEEN $lo AND $hi GROUP BY v.chat_id)
    SELECT l.chat_id, coalesce(j.name, '') || ' (' || s.status || ')' AS bot_session,
           r.goal_ids, r.goals, r.milestones, tr.tracker_values
    FROM latest l JOIN bot_sessions s USING (session_id)
    LEFT JOIN bot_journeys j USING (journey_id)
    LEFT JOIN reached r ON r.chat_id = l.chat_id LEFT JOIN tracked tr ON tr.chat_id = l.chat_id""",
)
PIECES = tuple(
    sql.format(
        in_slice=IN_SLICE.format(alias=""),
        in_slice_a=IN_SLICE.format(alias="a."),
        in_slice_t=IN_SLICE.format(alias="t."),
    )
    for sql in PIECES_SQL
)
# The columns each piece adds, in PIECES' order: an export that needs none of them (the
# message export choosing chats by a few filters) skips the piece.
PIECE_COLUMNS: tuple[frozenset[str], ...] = tuple(
    frozenset(columns.split())
    for columns in (
        "contact_id has_contacts",
        "assignee_ids assignees assignee_name assignee_email",
        "team_ids teams",
        "label_ids labels",
        "external_items",
        "notes_count notes_summary has_notes",
        "tickets_count open_tickets tickets_summary has_tickets has_open_tickets",
        "bot_session goal_ids goals milestones tracker_values",
    )
)
# Flags worked out from a piece's counts.
DERIVED = {
    "has_notes": pl.col("notes_count") > 0,
    "has_tickets": pl.col("tickets_count") > 0,
    "has_open_tickets": pl.col("open_tickets") > 0,
}
# A chat no piece mentions has none of these: zero counts, false flags.
ABSENT_MEANS = {
    "has_contacts": False,
    "notes_count": 0,
    "tickets_count": 0,
    "open_tickets": 0,
}

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


def slice_frame(
    reader: ReplicaReader, chats: pl.DataFrame, needed: Collection[str] | None = None
) -> pl.DataFrame:
    """The slice's chats with every related column (or those `needed`) but the primary
    contact's own, one query per piece."""
    ids = chats["chat_id"]
    values = {
        "lo": ids.min(),
        "hi": ids.max(),
        "notes": NOTES_IN_SUMMARY,
        "note_chars": NOTE_CHARS,
    }
    frame = reader.query(SLICE_TABLES, CHATS_SQL, c=chats)
    for sql, columns in zip(PIECES, PIECE_COLUMNS, strict=True):
        if needed is None or not columns.isdisjoint(needed):
            piece = reader.query(SLICE_TABLES, sql, _params(sql, values), c=chats)
            frame = frame.join(piece, on="chat_id", how="left")
    if needed is None or not METRIC_COLUMNS.isdisjoint(needed):
        frame = frame.join(chat_metrics(reader, chats), on="chat_id", how="left")
    present = set(frame.columns)
    frame = frame.with_columns(
        pl.col(name).fill_null(v) for name, v in ABSENT_MEANS.items() if name in present
    )
    return frame.with_columns(
        expr.alias(name) for name, expr in DERIVED.items() if set(expr.meta.root_names()) <= present
    )


def _read_by(exprs: Sequence[pl.Expr]) -> set[str]:
    """The frame columns the expressions read."""
    return set().union(*(expr.meta.root_names() for expr in exprs))


def _params(sql: str, values: dict[str, Any]) -> dict[str, Any]:
    """The named parameters `sql` uses (DuckDB refuses unused ones)."""
    return {name: value for name, value in values.items() if f"${name}" in sql}


BASE = BaseTable("chats", "created_at", "chat_id", RELATED)


def build(
    reader: ReplicaReader,
    filters: ChatFilters,
    tz: str,
    slice_rows: int,
    *,
    keep: Prefilter = EVERY_ROW,
    only: Sequence[str] | None = None,
) -> Export:
    """The chat export. `only` (headers: a request's chosen columns, or what the message
    export needs of each chat) limits the columns, so only the related rows those columns
    and the active filters read are read; `keep` narrows the chats considered before any is
    enriched (the message export's sent window)."""
    fields = custom_fields.active_fields(reader)
    columns = headed(fixed(HEAD_COLUMNS) + custom_fields.columns(fields) + fixed(TAIL_COLUMNS))
    if only is not None:
        columns = {header: columns[header] for header in only}
    where = filters.where(tz) & custom_fields.predicates_expr(filters.contact_custom_fields, fields)
    needed = None if only is None else _read_by([*columns.values(), where])
    with_values = needed is None or any(c.startswith(custom_fields.PREFIX) for c in needed)
    with_contact = needed is None or not needed.isdisjoint(CHAT_CONTACT_COLUMNS)
    looks_up = with_values or with_contact
    if needed is not None and looks_up:
        needed.add("contact_id")  # what the primary contact is looked up by
    lookups = ContactLookups(
        reader,
        slice_rows,
        PRIMARY_CONTACT,
        select=CHAT_CONTACT_SELECT if with_contact else None,
        fields=fields if with_values else None,
    )

    def enrich(chats: pl.DataFrame) -> pl.DataFrame:
        frame = slice_frame(reader, chats, needed)
        return lookups.joined(frame) if looks_up else frame

    prepare = lookups.prepare if looks_up else None
    return sliced_export(
        reader, BASE, slice_rows, enrich, where, columns, filters, tz, keep, prepare
    )


def lived_within(
    span: DateRange | None,
    tz: str,
    name: str,
    *,
    later: str | None = None,
    later_reads: tuple[str, ...] = (),
) -> Prefilter:
    """Chats that can hold a row of theirs inside `span`: such rows lie between a chat's
    creation and its last message or, where `later` says so (a condition on
    `$<name>_start` over the tables `later_reads`), after it. Its parameters are
    `<name>_start` and `<name>_end`."""
    if span is None:
        return EVERY_ROW
    parts: list[str] = []
    params: dict[str, Any] = {}
    if span.from_ is not None:
        after = f"last_message_at >= ${name}_start"
        parts.append(f"({after} OR {later})" if later else after)
        params[f"{name}_start"] = span.start(tz)
    if span.to is not None and (end := span.end(tz)) is not None:
        parts.append(f"created_at <= ${name}_end")
        params[f"{name}_end"] = end
    reads = later_reads if later and span.from_ is not None else ()
    return Prefilter(" AND ".join(parts) or "TRUE", params, reads)


def chosen_chats(
    reader: ReplicaReader,
    filters: ChatFilters,
    tz: str,
    slice_rows: int,
    keep: Prefilter,
    columns: dict[str, str],
) -> Iterator[pl.DataFrame]:
    """The chats the chat export would hold for `filters` (among those `keep` keeps), in
    its order and batches, each non-empty batch with only `columns` (header -> name)."""
    export = build(reader, filters, tz, slice_rows, keep=keep, only=list(columns))
    for batch in export.batches:
        if batch.height:
            yield batch.select(pl.col(header).alias(name) for header, name in columns.items())


# Every replica table a chat export may read (its lineage in Dagster): the chats, their
# slice's related tables, and the custom fields of the primary contact.
CHAT_READS = ("chats", *SLICE_TABLES, *METRICS_TABLES, *custom_fields.TABLES)

REPORT = ReportType(
    name="chat",
    reads=frozenset(CHAT_READS),
    label="Chat",
    description="Conversations in the Home inbox with contact, assignees, notes, tickets, "
    "bot journey and response times.",
    filters=ChatFilters,
    build=build,
    base=BASE,
    narrows_columns=True,
    example={
        "type": "chat",
        "filters": {
            "high_priority": True,
            "labels": {"values": [0]},
            "created": {"from": "2026-10-01", "to": "2026-10-31"},
        },
        "timezone": "Asia/Kolkata",
    },
)
