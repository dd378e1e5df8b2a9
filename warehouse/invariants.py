"""The replica's invariants, each a query that counts the rows breaking it.

Ids are the CRM's per organisation: two organisations may use the same id, so every rule
holds within one organisation (as every export reads one).

The exports rely on them; `tests/test_warehouse.py` proves them on generated data, and
the Dagster asset checks (`reports_pipeline/assets.py`) run the same queries against the
live replica every hour. Every query is a constant text over the catalog's views.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

FOREIGN_KEYS = [
    ("chats", "channel_id", "channels", "channel_id"),
    ("chat_contacts", "chat_id", "chats", "chat_id"),
    ("chat_contacts", "contact_id", "contacts", "contact_id"),
    ("chat_assignees", "member_id", "team_members", "member_id"),
    ("chat_teams", "team_id", "teams", "team_id"),
    ("chat_labels", "label_id", "labels", "label_id"),
    ("notes", "chat_id", "chats", "chat_id"),
    ("notes", "author_id", "team_members", "member_id"),
    ("messages", "chat_id", "chats", "chat_id"),
    ("messages", "member_id", "team_members", "member_id"),
    ("contacts", "template_id", "contact_templates", "template_id"),
    ("contacts", "created_by", "team_members", "member_id"),
    ("contact_field_values", "contact_id", "contacts", "contact_id"),
    ("custom_fields", "template_id", "contact_templates", "template_id"),
    ("tickets", "chat_id", "chats", "chat_id"),
    ("tickets", "contact_id", "contacts", "contact_id"),
    ("tickets", "issue_id", "ticket_issues", "issue_id"),
    ("tickets", "sub_issue_id", "ticket_issues", "issue_id"),
    ("tickets", "status_id", "ticket_statuses", "status_id"),
    ("tickets", "assignee_id", "team_members", "member_id"),
    ("tickets", "workflow_id", "workflows", "workflow_id"),
    ("call_logs", "agent_id", "team_members", "member_id"),
    ("call_logs", "contact_id", "contacts", "contact_id"),
    ("call_logs", "chat_id", "chats", "chat_id"),
    ("call_logs", "account_id", "telephony_accounts", "account_id"),
    ("bot_sessions", "chat_id", "chats", "chat_id"),
    ("bot_sessions", "journey_id", "bot_journeys", "journey_id"),
    ("goal_events", "session_id", "bot_sessions", "session_id"),
    ("goal_events", "goal_id", "goals", "goal_id"),
    ("tracker_values", "event_id", "goal_events", "event_id"),
    ("chat_events", "chat_id", "chats", "chat_id"),
    ("chat_events", "member_id", "team_members", "member_id"),
    ("chat_events", "team_id", "teams", "team_id"),
    ("chat_events", "resolution_label_id", "resolution_labels", "resolution_label_id"),
    ("ratings", "chat_id", "chats", "chat_id"),
    ("member_status", "member_id", "team_members", "member_id"),
]

PRIMARY_KEYS = {
    "organisations": "org_id",
    "team_members": "member_id",
    "channels": "channel_id",
    "contacts": "contact_id",
    "chats": "chat_id",
    "notes": "note_id",
    "messages": "message_id",
    "tickets": "ticket_id",
    "call_logs": "call_id",
    "bot_sessions": "session_id",
    "chat_events": "event_id",
    "ratings": "rating_id",
    "member_status": "status_change_id",
    "resolution_labels": "resolution_label_id",
    "goal_events": "event_id",
    "ticket_issues": "issue_id",
}


@dataclass(frozen=True)
class Invariant:
    """`sql` counts the rows of `table` that break the rule `name` states."""

    name: str
    table: str
    description: str
    sql: str

    def violations(self, catalog: duckdb.DuckDBPyConnection) -> int:
        return int(catalog.execute(self.sql).fetchall()[0][0])


def _unique(table: str, key: str) -> Invariant:
    return Invariant(
        f"{key}_is_unique",
        table,
        f"No two rows of `{table}` in one organisation share a `{key}`.",
        f"SELECT count(*) - count(DISTINCT (org_id, {key})) FROM {table}",  # noqa: S608
    )


def _resolves(child: str, fk: str, parent: str, pk: str) -> Invariant:
    return Invariant(
        f"{fk}_resolves_in_{parent}",
        child,
        f"Every `{child}.{fk}` names a `{parent}` row of the same organisation.",
        f"SELECT count(*) FROM {child} c WHERE c.{fk} IS NOT NULL AND NOT EXISTS "  # noqa: S608
        f"(SELECT 1 FROM {parent} p WHERE p.{pk} = c.{fk} AND p.org_id = c.org_id)",
    )


def _one_primary(table: str) -> Invariant:
    return Invariant(
        "at_most_one_primary_per_chat",
        table,
        f"A chat has at most one primary row in `{table}`.",
        f"SELECT count(*) FROM (SELECT chat_id FROM {table} WHERE is_primary "  # noqa: S608
        "GROUP BY org_id, chat_id HAVING count(*) > 1)",
    )


INVARIANTS: list[Invariant] = [
    *(_unique(table, key) for table, key in PRIMARY_KEYS.items()),
    *(_resolves(*fk) for fk in FOREIGN_KEYS),
    _one_primary("chat_contacts"),
    _one_primary("chat_assignees"),
    Invariant(
        "message_times_are_ordered",
        "messages",
        "A chat's messages are in time order by id.",
        """SELECT count(*) FROM (
               SELECT sent_at < lag(sent_at) OVER (
                   PARTITION BY org_id, chat_id ORDER BY message_id) b
               FROM messages) WHERE b""",
    ),
    Invariant(
        "messages_bound_their_chat",
        "chats",
        "A chat's last_message_at is its newest message, and no message precedes the chat.",
        """SELECT count(*) FROM chats c
           JOIN (SELECT org_id, chat_id, max(sent_at) m, min(sent_at) f
                 FROM messages GROUP BY org_id, chat_id) x USING (org_id, chat_id)
           WHERE c.last_message_at <> x.m OR x.f < c.created_at""",
    ),
    Invariant(
        "agent_messages_name_their_sender",
        "messages",
        "Exactly the agent messages carry a team member.",
        "SELECT count(*) FROM messages WHERE (member_id IS NOT NULL) <> (sender = 'agent')",
    ),
    Invariant(
        "goal_positions_are_contiguous",
        "goal_events",
        "A session's goal events are numbered 1..n without gaps.",
        """SELECT count(*) FROM (SELECT min(position) lo, max(position) hi, count(*) n
                                 FROM goal_events GROUP BY org_id, session_id)
           WHERE lo <> 1 OR hi <> n""",
    ),
    Invariant(
        "events_lie_within_their_chat",
        "chat_events",
        "A chat's events are ordered by id and lie between its creation and its last message.",
        """SELECT count(*) FROM (
               SELECT e.occurred_at < c.created_at OR e.occurred_at > c.last_message_at
                      OR e.occurred_at < lag(e.occurred_at) OVER
                          (PARTITION BY e.org_id, e.chat_id ORDER BY e.event_id) AS bad
               FROM chat_events e JOIN chats c USING (org_id, chat_id)) WHERE bad""",
    ),
    Invariant(
        "session_closed_is_a_final_resolution",
        "chat_events",
        "A chat is session_closed exactly when its latest interaction ended in a resolution "
        "at its last message's time.",
        """SELECT count(*) FROM chats c
           LEFT JOIN (SELECT org_id, chat_id, arg_max(event_type, event_id) AS last_type,
                             arg_max(occurred_at, event_id) AS last_at
                      FROM chat_events WHERE event_type IN ('resolved', 'reopened')
                      GROUP BY org_id, chat_id) e USING (org_id, chat_id)
           WHERE c.session_closed IS DISTINCT FROM
                 coalesce(e.last_type = 'resolved' AND e.last_at = c.last_message_at, false)""",
    ),
    Invariant(
        "ratings_follow_a_resolution",
        "ratings",
        "A rating's score is 1-5 and it follows a resolution of its chat.",
        """SELECT count(*) FROM ratings r
           WHERE r.score NOT BETWEEN 1 AND 5 OR NOT EXISTS (
               SELECT 1 FROM chat_events e
               WHERE e.org_id = r.org_id AND e.chat_id = r.chat_id
                 AND e.event_type = 'resolved' AND e.occurred_at <= r.rated_at)""",
    ),
    Invariant(
        "business_hours_are_whole_intervals",
        "business_hours",
        "Each interval has a weekday 1-7 and a length (closing at or before its opening "
        "means the next day), and none overlaps another of its organisation.",
        """WITH spans AS (
               SELECT org_id, (weekday - 1) * 1440 + hour(opens) * 60 + minute(opens) AS lo,
                      (weekday - 1) * 1440 + hour(closes) * 60 + minute(closes)
                      + CASE WHEN closes <= opens THEN 1440 ELSE 0 END AS hi, weekday,
                      row_number() OVER () AS n
               FROM business_hours)
           SELECT count(*) FROM spans a
           WHERE a.weekday NOT BETWEEN 1 AND 7 OR EXISTS (
               SELECT 1 FROM spans b WHERE b.org_id = a.org_id AND b.n <> a.n
                 AND ((b.lo >= a.lo AND b.lo < a.hi) OR b.lo + 10080 < a.hi))""",
    ),
    Invariant(
        "status_changes_are_known_states",
        "member_status",
        "A status is online, away or offline.",
        "SELECT count(*) FROM member_status WHERE status NOT IN ('online', 'away', 'offline')",
    ),
]
