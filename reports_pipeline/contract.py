"""What the API and the export runs agree on, and nothing that loads Dagster or the replica.

The API imports this to launch a run and to show a report; the pipeline imports it to read
its run config, tag its runs and send a report in a webhook. Neither imports the other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reports_pipeline.audit import SCHEDULE_ACTOR
from reports_pipeline.job_table import ReportRow, Status

JOB_NAME = "export_report"
EXPORT_OP = "export"

TAG_ORGANISATION = "reports/organisation"
TAG_TYPE = "reports/type"
TAG_REPORT_ID = "reports/report_id"
TAG_REQUESTED_BY = "reports/requested_by"
TAG_REQUESTED_BY_NAME = "reports/requested_by_name"
TAG_OUTCOME = "reports/outcome"  # the plain reason a run did not complete its report
TAG_SCHEDULE = "reports/schedule"  # the schedule whose firing this is
MAX_TAG_VALUE = 200  # what Dagster's UI shows of a tag's value


def run_config(report_id: str) -> dict[str, Any]:
    """The run config of one report (the op's `ExportConfig`), as the API and the
    reconciler submit it: the report's id; everything else is in its job row."""
    return {"ops": {EXPORT_OP: {"config": {"report_id": report_id}}}}


def run_tags(report: ReportRow) -> dict[str, str]:
    """What a data engineer filters runs by in the Dagster UI."""
    who = report.requested_by
    tags = {
        TAG_ORGANISATION: report.organisation_id,
        TAG_TYPE: report.type,
        TAG_REPORT_ID: report.id,
        TAG_REQUESTED_BY: who.id[:MAX_TAG_VALUE],
        TAG_REQUESTED_BY_NAME: (who.name or who.email or "")[:MAX_TAG_VALUE],
    }
    if who.id.startswith(SCHEDULE_ACTOR):  # one filter shows all of a schedule's firings
        tags[TAG_SCHEDULE] = who.id.removeprefix(SCHEDULE_ACTOR)
    return tags


def outcome_tag(reason: str) -> dict[str, str]:
    """The tag that tells, on the run, why it did not complete its report."""
    return {TAG_OUTCOME: reason[:MAX_TAG_VALUE]}


class RequestedBy(BaseModel):
    """A person: who asked for an export, or who canceled it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str | None
    name: str | None


class ReportPublic(BaseModel):
    """An export and its state: `pending` → `processing` → `completed`, `failed` or
    `canceled`. The API answers with it and webhook deliveries carry it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    organisation_id: str
    type: str
    status: Status
    format: str
    purpose: str | None
    password_protected: bool = Field(
        description="The file is an AES-256 ZIP that opens with the request's password."
    )
    filters: dict[str, Any]
    timezone: str
    requested_by: RequestedBy
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    canceled_at: datetime | None
    canceled_by: RequestedBy | None
    rows_expected: int | None = Field(
        description="How many rows the export matches, once the run has counted them "
        "(before it writes when its filters are all on the table's own columns, else at "
        "completion); null before."
    )
    rows_written: int
    row_count: int | None
    file_size_bytes: int | None
    file_name: str | None
    error: str | None

    @classmethod
    def of(cls, row: ReportRow) -> ReportPublic:
        return cls.model_validate(row, from_attributes=True)
