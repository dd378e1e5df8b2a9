"""The replica's tables: their names and the order each one's Parquet files are sorted in.

Every table carries `org_id` and is hive-partitioned by it, so an export of one
organisation reads only that organisation's files.
"""

from __future__ import annotations

# table name -> sort key inside each organisation's partition (the primary timestamp, then id).
# Tables read per chat (notes, messages, links) are sorted by chat first, so that a slice of
# chats reads only the row groups that hold its own related rows.
TABLES: dict[str, str] = {
    "organisations": "org_id",
    "team_members": "member_id",
    "teams": "team_id",
    "team_memberships": "team_id, member_id",
    "channels": "channel_id",
    "workflows": "workflow_id",
    "ticket_issues": "issue_id",
    "ticket_statuses": "status_id",
    "labels": "label_id",
    "contact_templates": "template_id",
    "custom_fields": "template_id, field_id",
    "contacts": "created_at, contact_id",
    "contact_field_values": "contact_id, field_key",
    "chats": "created_at, chat_id",
    "chat_contacts": "chat_id, contact_id",
    "chat_assignees": "chat_id, member_id",
    "chat_teams": "chat_id, team_id",
    "chat_labels": "chat_id, label_id",
    "chat_external_items": "chat_id, item_ref",
    "notes": "chat_id, created_at, note_id",
    "messages": "chat_id, sent_at, message_id",
    "tickets": "created_at, ticket_id",
    "telephony_accounts": "account_id",
    "call_logs": "started_at, call_id",
    "bot_journeys": "journey_id",
    "goals": "goal_id",
    "bot_sessions": "chat_id, started_at, session_id",
    "goal_events": "chat_id, session_id, position",
    "tracker_values": "chat_id, event_id, tracker_name",
    "resolution_labels": "resolution_label_id",
    "chat_events": "chat_id, occurred_at, event_id",
    "ratings": "chat_id, rated_at, rating_id",
    "business_hours": "weekday, opens",
    "holidays": "day",
    "member_status": "changed_at, status_change_id",
}
