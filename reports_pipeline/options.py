"""The organisation's values that filters pick from (ids with names), for the admin page.

Each key is an `x-options` source named on a filter field (see `filters.options`).
"""

from __future__ import annotations

from typing import Any

from reports_pipeline.replica import ReplicaReader

SOURCES: dict[str, tuple[str | tuple[str, ...], str]] = {
    # The organisation itself: the page's default timezone is its zone.
    "organisation": ("organisations", "SELECT timezone AS id, name FROM organisations"),
    "members": ("team_members", "SELECT member_id AS id, name FROM team_members ORDER BY name"),
    "teams": ("teams", "SELECT team_id AS id, name FROM teams ORDER BY name"),
    "labels": ("labels", "SELECT label_id AS id, name FROM labels ORDER BY name"),
    "channels": (
        "channels",
        "SELECT channel_id AS id, name || ' (' || type || ')' AS name FROM channels ORDER BY name",
    ),
    "workflows": ("workflows", "SELECT workflow_id AS id, name FROM workflows ORDER BY name"),
    "ticket_statuses": (
        ("ticket_statuses", "workflows"),
        "SELECT s.status_id AS id, s.name || ' — ' || w.name AS name "
        "FROM ticket_statuses s JOIN workflows w USING (workflow_id) "
        "ORDER BY w.name, s.status_id",
    ),
    # The same issue exists in every workflow: name the workflow so each entry is distinct.
    "issues": (
        ("ticket_issues", "workflows"),
        "SELECT i.issue_id AS id, i.name || ' — ' || w.name AS name FROM ticket_issues i "
        "JOIN workflows w USING (workflow_id) WHERE i.parent_issue_id IS NULL "
        "ORDER BY i.name, w.name",
    ),
    "sub_issues": (
        ("ticket_issues", "workflows"),
        "SELECT s.issue_id AS id, p.name || ' › ' || s.name || ' — ' || w.name AS name "
        "FROM ticket_issues s JOIN ticket_issues p ON p.issue_id = s.parent_issue_id "
        "JOIN workflows w ON w.workflow_id = s.workflow_id ORDER BY 2",
    ),
    "goals": (
        ("goals", "bot_journeys"),
        "SELECT g.goal_id AS id, j.name || ' — ' || g.name AS name "
        "FROM goals g JOIN bot_journeys j USING (journey_id) ORDER BY j.name, g.goal_id",
    ),
    "accounts": (
        "telephony_accounts",
        "SELECT account_id AS id, name || ' (' || provider || ')' "
        "AS name FROM telephony_accounts ORDER BY name",
    ),
    "workflow_states": (
        "chats",
        "SELECT DISTINCT workflow_state AS id, workflow_state AS name FROM chats ORDER BY 1",
    ),
    "call_statuses": (
        "call_logs",
        "SELECT DISTINCT status AS id, status AS name FROM call_logs ORDER BY 1",
    ),
    "hangup_causes": (
        "call_logs",
        "SELECT DISTINCT hangup_cause AS id, hangup_cause AS name FROM call_logs ORDER BY 1",
    ),
    "custom_fields": (
        ("custom_fields", "contact_templates"),
        "SELECT f.key AS id, min(f.label) AS name FROM custom_fields f "
        "JOIN contact_templates t USING (template_id) WHERE f.active AND t.active "
        "GROUP BY f.key ORDER BY min(f.field_id)",
    ),
    "resolution_labels": (
        "resolution_labels",
        "SELECT resolution_label_id AS id, category || ' / ' || sub_category AS name "
        "FROM resolution_labels ORDER BY 2",
    ),
    "trackers": (
        "tracker_values",
        "SELECT DISTINCT tracker_name AS id, tracker_name AS name FROM tracker_values ORDER BY 1",
    ),
}


def organisation_options(reader: ReplicaReader) -> dict[str, list[dict[str, Any]]]:
    return {
        source: reader.query(tables, sql).to_dicts() for source, (tables, sql) in SOURCES.items()
    }
