"""A chat export's related sheets (`related`): the rows of the exported chats' contacts,
messages, assigned team members, labels and bot sessions (docs/report-types.md, "Related
sheets").

Each sheet reads the keys the chat sheet kept of the chats it wrote (`ExportedRows`), so
it holds exactly those chats' rows, whatever the chat filters were. Contacts and messages
are the contact and message exports' own rows; the other three are link tables a BI tool
joins on `Chat ID`, in the chats' order.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from reports_pipeline.replica import Prefilter, ReplicaReader
from reports_pipeline.reports import contact, message
from reports_pipeline.reports.base import (
    Export,
    ExportedRows,
    RelatedBuilder,
    RelatedSheet,
    select_columns,
)

# What the sheets read of each written chat: the message export's chat columns.
KEYS = message.CHAT_COLUMNS
EXPORTED = ExportedRows.TABLE
CONTACTS_OF_CHATS = (
    "contact_id IN (SELECT cc.contact_id FROM chat_contacts cc "  # noqa: S608 - our names
    f"JOIN {EXPORTED} e ON e.chat_id = cc.chat_id)"
)


def contacts(reader: ReplicaReader, exported: ExportedRows, tz: str, slice_rows: int) -> Export:
    """The contact export's rows of every contact of the chats (a group chat has several)."""
    keep = Prefilter(CONTACTS_OF_CHATS, tables=("chat_contacts", EXPORTED))
    return contact.build(reader, contact.ContactFilters(), tz, slice_rows, keep=keep)


def messages(reader: ReplicaReader, exported: ExportedRows, tz: str, slice_rows: int) -> Export:
    """The message export's rows of the chats: every message, chat by chat."""
    return message.transcripts(reader, exported.windows(slice_rows))


def link_table(tables: tuple[str, ...], sql: str, columns: dict[str, pl.Expr]) -> RelatedBuilder:
    """Rows of `sql` (over the kept chats `e` whose `row_rank` lies between its two
    parameters, in that order) for each window of written chats."""

    def build(reader: ReplicaReader, exported: ExportedRows, tz: str, slice_rows: int) -> Export:
        def batches() -> Iterator[pl.DataFrame]:
            for first, last in exported.ranks(slice_rows):
                yield select_columns(reader.query(tables, sql, [first, last]), columns)

        return Export(list(columns), batches())

    return build


TEAM_MEMBERS = link_table(
    ("chat_assignees", "team_members"),
    f"""SELECT a.chat_id, a.member_id, m.name, m.email, m.role, a.is_primary
    FROM {EXPORTED} e JOIN chat_assignees a USING (chat_id)
    LEFT JOIN team_members m USING (member_id)
    WHERE e.row_rank BETWEEN ? AND ?
    ORDER BY e.row_rank, a.is_primary DESC, a.member_id""",  # noqa: S608 - our names
    {
        "Chat ID": pl.col("chat_id"),
        "Member ID": pl.col("member_id"),
        "Name": pl.col("name"),
        "Email": pl.col("email"),
        "Role": pl.col("role"),
        "Primary Assignee": pl.col("is_primary"),
    },
)

LABELS = link_table(
    ("chat_labels", "labels"),
    f"""SELECT cl.chat_id, cl.label_id, l.name
    FROM {EXPORTED} e JOIN chat_labels cl USING (chat_id) LEFT JOIN labels l USING (label_id)
    WHERE e.row_rank BETWEEN ? AND ?
    ORDER BY e.row_rank, cl.label_id""",  # noqa: S608 - our names
    {"Chat ID": pl.col("chat_id"), "Label ID": pl.col("label_id"), "Label": pl.col("name")},
)

BOT_SESSIONS = link_table(
    ("bot_sessions", "bot_journeys"),
    f"""SELECT s.session_id, s.chat_id, s.journey_id, j.name AS journey, s.started_at, s.status
    FROM {EXPORTED} e JOIN bot_sessions s USING (chat_id)
    LEFT JOIN bot_journeys j USING (journey_id)
    WHERE e.row_rank BETWEEN ? AND ?
    ORDER BY e.row_rank, s.started_at, s.session_id""",  # noqa: S608 - our names
    {
        "Session ID": pl.col("session_id"),
        "Chat ID": pl.col("chat_id"),
        "Journey ID": pl.col("journey_id"),
        "Journey": pl.col("journey"),
        "Started At": pl.col("started_at"),
        "Status": pl.col("status"),
    },
)

SHEETS = (
    RelatedSheet("contacts", "Contacts", contacts),
    RelatedSheet("messages", "Messages", messages),
    RelatedSheet("team_members", "Team Members", TEAM_MEMBERS),
    RelatedSheet("labels", "Labels", LABELS),
    RelatedSheet("bot_sessions", "Bot Sessions", BOT_SESSIONS),
)
# Every replica table the sheets may read, beyond the chat export's.
READS = (
    frozenset(
        ("chat_assignees", "team_members", "chat_labels", "labels", "bot_sessions", "bot_journeys")
    )
    | message.REPORT.reads
    | contact.REPORT.reads
)
