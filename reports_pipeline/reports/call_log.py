"""call_log: the Calls page (docs/report-types.md, "call_log")."""

from __future__ import annotations

from typing import Annotated, Literal

import polars as pl

from reports_pipeline.filters import (
    DateRange,
    NumberRange,
    On,
    ReportFilters,
    SetFilter,
    Text,
    TextSetFilter,
    options,
    shown,
)
from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports.base import BaseTable, Export, ReportType, sliced_export
from reports_pipeline.reports.contact_lookups import ContactLookups, ContactOf

Direction = Literal["inbound", "outbound"]


class CallLogFilters(ReportFilters):
    directions: Annotated[SetFilter[Direction] | None, On("direction"), shown("Direction")] = None
    statuses: Annotated[
        TextSetFilter | None, On("status"), options("call_statuses"), shown("Status")
    ] = None
    agents: Annotated[
        SetFilter[int] | None, On("agent_id"), options("members"), shown(group="people")
    ] = None
    accounts: Annotated[
        SetFilter[int] | None,
        On("account_id"),
        options("accounts"),
        shown("Phone accounts", group="people"),
    ] = None
    hangup_causes: Annotated[
        TextSetFilter | None, On("hangup_cause"), options("hangup_causes"), shown("Hang-up cause")
    ] = None
    date: Annotated[DateRange | None, On("started_at"), shown("Call date")] = None
    has_recording: Annotated[bool | None, On("has_recording"), shown("Has a recording")] = None
    has_chat: Annotated[bool | None, On("has_chat"), shown("Has a chat")] = None
    talk_duration: Annotated[
        NumberRange | None, On("talk_seconds"), shown("Talk time", unit="seconds")
    ] = None
    total_duration: Annotated[
        NumberRange | None, On("total_seconds"), shown("Call length", unit="seconds")
    ] = None
    search: Annotated[Text | None, On("caller_number", "called_number", "customer")] = None


def hms(seconds: str) -> pl.Expr:
    """Seconds as HH:MM:SS (hours may pass 99)."""
    s = pl.col(seconds)

    def two(e: pl.Expr) -> pl.Expr:
        return e.cast(pl.String).str.zfill(2)

    return pl.when(s.is_not_null()).then(
        pl.format("{}:{}:{}", two(s // 3600), two((s % 3600) // 60), two(s % 60))
    )


COLUMNS: dict[str, pl.Expr] = {
    "Call ID": pl.col("call_id"),
    "Direction": pl.col("direction"),
    "Status": pl.col("status"),
    "Caller Number": pl.col("caller_number"),
    "Called Number": pl.col("called_number"),
    "Caller ID": pl.col("caller_id"),
    "Agent": pl.col("agent"),
    "Customer": pl.col("customer"),
    "Chat ID": pl.col("chat_id"),
    "Talk Duration": hms("talk_seconds"),
    "Talk Duration (s)": pl.col("talk_seconds"),
    "Ring Duration": hms("ring_seconds"),
    "Ring Duration (s)": pl.col("ring_seconds"),
    "Total Duration": hms("total_seconds"),
    "Total Duration (s)": pl.col("total_seconds"),
    "Hang-up Cause": pl.col("hangup_cause"),
    "Recording Available": pl.col("has_recording"),
    "Started At": pl.col("started_at"),
    "Answered At": pl.col("answered_at"),
    "Ended At": pl.col("ended_at"),
    "Account": pl.col("account"),
    "Provider": pl.col("provider"),
}


BASE = BaseTable("call_logs", "started_at", "call_id")
CALLER = ContactOf("call_logs", "call_id")


def build(reader: ReplicaReader, filters: CallLogFilters, tz: str, slice_rows: int) -> Export:
    agents = reader.query(
        "team_members", "SELECT member_id AS agent_id, name AS agent FROM team_members"
    )
    accounts = reader.query(
        "telephony_accounts", "SELECT account_id, name AS account, provider FROM telephony_accounts"
    )
    where = filters.where(tz)

    customers = ContactLookups(reader, slice_rows, CALLER, select="name AS customer")

    def enrich(calls: pl.DataFrame) -> pl.DataFrame:
        return (
            customers.joined(calls)
            .join(agents, on="agent_id", how="left")
            .join(accounts, on="account_id", how="left")
            .with_columns(
                has_recording=pl.col("recording_url").is_not_null(),
                has_chat=pl.col("chat_id").is_not_null(),
            )
        )

    return sliced_export(
        reader, BASE, slice_rows, enrich, where, COLUMNS, filters, tz, prepare=customers.prepare
    )


REPORT = ReportType(
    name="call_log",
    date_filter="date",
    reads=frozenset(("call_logs", "contacts", "team_members", "telephony_accounts")),
    label="Call Log",
    description="Inbound and outbound calls with durations, outcome and recording.",
    filters=CallLogFilters,
    build=build,
    base=BASE,
    example={
        "type": "call_log",
        "filters": {
            "directions": {"values": ["inbound"]},
            "talk_duration": {"min": 60},
            "has_recording": True,
            "date": {"from": "2026-10-01", "to": "2026-10-31"},
        },
        "timezone": "America/New_York",
        "format": "xlsx",
    },
)
