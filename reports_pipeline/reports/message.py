"""message: conversation transcripts, one row per message (docs/report-types.md, "message").

The chats are chosen exactly as the chat export chooses them (its filters, its order):
this type reads the chat export's batches and, for each, the messages of those chats.
Positions and response times (`reports_pipeline.metrics`) are worked out over a chat's
whole conversation before the message filters apply, so filtering never changes them.
With a `sent` range, only chats that can have a message in it (created before its end,
last message after its start) are considered at all, so a week's transcripts do not read
years of chats.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal

import polars as pl

from reports_pipeline.filters import DateRange, On, SetFilter, Text, options, shown
from reports_pipeline.metrics import METRICS_TABLES, message_metrics
from reports_pipeline.replica import Prefilter, ReplicaReader
from reports_pipeline.reports import chat
from reports_pipeline.reports.base import Export, ReportType, rows_for, select_columns

SenderType = Literal["customer", "agent", "bot"]
SENDER_TYPES = {"user": "customer", "agent": "agent", "bot": "bot"}
BOT_NAME = "Bot"


class MessageFilters(chat.ChatFilters):
    sent: Annotated[DateRange | None, On("sent_at")] = None
    sender_types: Annotated[
        SetFilter[SenderType] | None, On("sender_type"), shown("Sent by", group="people")
    ] = None
    senders: Annotated[
        SetFilter[int] | None, On("member_id"), options("members"), shown(group="people")
    ] = None
    text: Annotated[Text | None, On("text"), shown("Message text")] = None

    def chat_filters(self) -> chat.ChatFilters:
        """The filters that choose the chats, as the chat export reads them."""
        return chat.ChatFilters.of(self)


MESSAGE_FIELDS = frozenset(MessageFilters.model_fields) - frozenset(chat.ChatFilters.model_fields)

COLUMNS: dict[str, pl.Expr] = {
    "Message ID": pl.col("message_id"),
    "Chat ID": pl.col("chat_id"),
    "Chat Name": pl.col("chat_name"),
    "Channel": pl.col("channel"),
    "Contact ID": pl.col("contact_id"),
    "Contact Name": pl.col("contact_name"),
    "Position": pl.col("position"),
    "Sent At": pl.col("sent_at"),
    "Sender Type": pl.col("sender_type"),
    "Sender ID": pl.col("sender_id"),
    "Sender Name": pl.col("sender_name"),
    "Text": pl.col("text"),
    "Response Time (s)": pl.col("response_s"),
    "Interaction": pl.col("interaction"),
    "Response Time, business hours (s)": pl.col("response_bh_s"),
}
# What each message needs from its chat, under the chat export's headers.
CHAT_COLUMNS = {
    "Chat ID": "chat_id",
    "Chat Name": "chat_name",
    "Channel": "channel",
    "Contact ID": "contact_id",
    "Contact Name": "contact_name",
}


def sent_window(sent: DateRange | None, tz: str) -> Prefilter:
    """Chats that can hold a message sent inside `sent`: a message lies between its chat's
    creation and its last message."""
    return chat.lived_within(sent, tz, "sent")


def with_metrics(reader: ReplicaReader, said: pl.DataFrame) -> pl.DataFrame:
    """Position in the chat, interaction and, for a reply, the response time (also in
    business hours) of each message (`reports_pipeline.metrics`)."""
    metrics = message_metrics(reader, said.select("chat_id").unique())
    return (
        said.sort("chat_id", "sent_at", "message_id")
        .with_columns(position=(pl.int_range(pl.len()) + 1).over("chat_id"))
        .join(metrics, on="message_id", how="left")
    )


def build(reader: ReplicaReader, filters: MessageFilters, tz: str, slice_rows: int) -> Export:
    chats = chat.chosen_chats(
        reader, filters.chat_filters(), tz, slice_rows, sent_window(filters.sent, tz), CHAT_COLUMNS
    )
    return transcripts(reader, chats, filters.where(tz, MESSAGE_FIELDS))


def transcripts(
    reader: ReplicaReader, chats: Iterable[pl.DataFrame], where: pl.Expr | None = None
) -> Export:
    """The messages of `chats` (batches with `CHAT_COLUMNS`' names, in export order) that
    `where` keeps (all of them without it), chat by chat in that order."""
    keeps = pl.lit(True) if where is None else where
    members = reader.query(
        "team_members", "SELECT member_id, name AS member_name FROM team_members"
    )

    def of(batch: pl.DataFrame) -> pl.DataFrame:
        chosen = batch.select(CHAT_COLUMNS.values()).with_row_index("chat_rank")
        said = rows_for(
            reader,
            "messages",
            "chat_id",
            chosen["chat_id"],
            "message_id, chat_id, sender, member_id, sent_at, text",
        )
        frame = (
            with_metrics(reader, said)
            .join(chosen, on="chat_id")
            .join(members, on="member_id", how="left")
            .with_columns(
                sender_type=pl.col("sender").replace_strict(SENDER_TYPES),
                sender_id=pl.when(pl.col("sender") == "user")
                .then(pl.col("contact_id"))
                .otherwise(pl.col("member_id")),
                sender_name=pl.when(pl.col("sender") == "user")
                .then(pl.col("contact_name"))
                .when(pl.col("sender") == "agent")
                .then(pl.col("member_name"))
                .otherwise(pl.lit(BOT_NAME)),
            )
        )
        return select_columns(
            frame.filter(keeps).sort("chat_rank", "sent_at", "message_id"), COLUMNS
        )

    return Export(list(COLUMNS), map(of, chats))


REPORT = ReportType(
    name="message",
    date_filter="sent",
    reads=frozenset(("messages", *METRICS_TABLES, *chat.REPORT.reads)),
    label="Message",
    description="Conversation transcripts: every message of the chosen chats, with who sent "
    "it and how long the customer waited for the reply.",
    filters=MessageFilters,
    build=build,
    example={
        "type": "message",
        "filters": {
            "high_priority": True,
            "sent": {"from": "2026-11-01", "to": "2026-11-07"},
            "sender_types": {"values": ["customer", "agent"]},
        },
        "timezone": "Asia/Kolkata",
    },
)
