"""The registry of report types: adding a type is one module and one line here."""

from __future__ import annotations

from reports_pipeline.reports import (
    agent_summary,
    call_log,
    chat,
    chat_related,
    chat_summary,
    contact,
    event,
    goal,
    message,
    ticket,
)
from reports_pipeline.reports.base import Export, ReportType

REPORT_TYPES: dict[str, ReportType] = {
    t.name: t
    for t in (
        # The chat type's related sheets build on the contact and message types.
        chat.REPORT.with_related(
            "chats", chat_related.SHEETS, chat_related.KEYS, chat_related.READS
        ),
        contact.REPORT,
        ticket.REPORT,
        call_log.REPORT,
        goal.REPORT,
        message.REPORT,
        event.REPORT,
        chat_summary.REPORT,
        agent_summary.REPORT,
    )
}

__all__ = ["REPORT_TYPES", "Export", "ReportType"]
