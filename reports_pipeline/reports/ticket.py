"""ticket: the Tickets page (docs/report-types.md, "ticket")."""

from __future__ import annotations

from typing import Annotated, Literal

import polars as pl

from reports_pipeline.filters import (
    DateRange,
    On,
    ReportFilters,
    SetFilter,
    Text,
    options,
    shown,
)
from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports.base import (
    BaseTable,
    Export,
    ReportType,
    lookup,
    sliced_export,
)
from reports_pipeline.reports.contact_lookups import ContactLookups, ContactOf

Priority = Literal["low", "medium", "high"]


class TicketFilters(ReportFilters):
    statuses: Annotated[
        SetFilter[int] | None, On("status_id"), options("ticket_statuses"), shown("Status")
    ] = None
    priorities: Annotated[SetFilter[Priority] | None, On("priority"), shown("Priority")] = None
    assignees: Annotated[
        SetFilter[int] | None, On("assignee_id"), options("members"), shown(group="people")
    ] = None
    creators: Annotated[
        SetFilter[int] | None,
        On("creator_id"),
        options("members"),
        shown("Created by", group="people"),
    ] = None
    channels: Annotated[
        SetFilter[int] | None, On("channel_id"), options("channels"), shown(group="people")
    ] = None
    issues: Annotated[SetFilter[int] | None, On("issue_id"), options("issues")] = None
    sub_issues: Annotated[
        SetFilter[int] | None, On("sub_issue_id"), options("sub_issues"), shown("Sub-issues")
    ] = None
    workflows: Annotated[SetFilter[int] | None, On("workflow_id"), options("workflows")] = None
    created: Annotated[DateRange | None, On("created_at")] = None
    search: Annotated[
        Text | None, On("remarks", "contact_name", "contact_phone", "issue", "sub_issue")
    ] = None


COLUMNS: dict[str, pl.Expr] = {
    "Ticket ID": pl.col("ticket_id"),
    "Chat ID": pl.col("chat_id"),
    "Contact ID": pl.col("contact_id"),
    "Contact Name": pl.col("contact_name"),
    "Issue": pl.col("issue"),
    "Sub-issue": pl.col("sub_issue"),
    "Priority": pl.col("priority"),
    "Status": pl.col("status"),
    "Remarks": pl.col("remarks"),
    "Assigned To": pl.col("assignee_name"),
    "Created By": pl.col("creator_name"),
    "Workflow": pl.col("workflow"),
    "Media Count": pl.col("media_count"),
    "Created At": pl.col("created_at"),
    "Updated At": pl.col("updated_at"),
}


BASE = BaseTable("tickets", "created_at", "ticket_id")
TICKET_CONTACT = ContactOf("tickets", "ticket_id")
CONTACT_SELECT = "name AS contact_name, phone AS contact_phone"


def build(reader: ReplicaReader, filters: TicketFilters, tz: str, slice_rows: int) -> Export:
    issues = lookup(
        reader, "ticket_issues", "issue_id", "name", as_key="issue_id", as_value="issue"
    )
    statuses = lookup(
        reader, "ticket_statuses", "status_id", "name", as_key="status_id", as_value="status"
    )
    members = reader.query("team_members", "SELECT member_id, name FROM team_members")
    workflows = lookup(
        reader, "workflows", "workflow_id", "name", as_key="workflow_id", as_value="workflow"
    )
    where = filters.where(tz)

    contacts = ContactLookups(reader, slice_rows, TICKET_CONTACT, select=CONTACT_SELECT)

    def enrich(tickets: pl.DataFrame) -> pl.DataFrame:
        return (
            contacts.joined(tickets)
            .join(issues, on="issue_id", how="left")
            .join(
                issues.rename({"issue_id": "sub_issue_id", "issue": "sub_issue"}),
                on="sub_issue_id",
                how="left",
            )
            .join(statuses, on="status_id", how="left")
            .join(
                members.rename({"member_id": "assignee_id", "name": "assignee_name"}),
                on="assignee_id",
                how="left",
            )
            .join(
                members.rename({"member_id": "creator_id", "name": "creator_name"}),
                on="creator_id",
                how="left",
            )
            .join(workflows, on="workflow_id", how="left")
        )

    return sliced_export(
        reader, BASE, slice_rows, enrich, where, COLUMNS, filters, tz, prepare=contacts.prepare
    )


REPORT = ReportType(
    name="ticket",
    reads=frozenset(
        ("tickets", "contacts", "team_members", "ticket_issues", "ticket_statuses", "workflows")
    ),
    label="Ticket",
    description="Tickets raised from chats, as filtered on the Tickets page.",
    filters=TicketFilters,
    build=build,
    base=BASE,
    example={
        "type": "ticket",
        "filters": {
            "priorities": {"values": ["high"]},
            "assignees": {"exists": False},
            "created": {"from": "2026-01-01", "to": "2026-03-31"},
        },
        "timezone": "Asia/Kolkata",
    },
)
