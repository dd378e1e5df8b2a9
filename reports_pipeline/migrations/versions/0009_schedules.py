"""Recurring exports (reports_pipeline/schedules.py) and the outcome of each due time.

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

from reports_pipeline.job_table import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("organisation_id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("cron", sa.String(100), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("created_by_id", sa.Text, nullable=False),
        sa.Column("created_by_email", sa.Text),
        sa.Column("created_by_name", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("next_due_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_schedules_organisation_id", "schedules", ["organisation_id"])
    op.create_index("schedules_by_due_time", "schedules", ["paused", "next_due_at"])
    op.create_table(
        "schedule_firings",
        sa.Column("schedule_id", sa.String(36), primary_key=True),
        sa.Column("due_at", UTCDateTime, primary_key=True),
        sa.Column("fired_at", UTCDateTime, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("report_id", sa.String(36)),
        sa.Column("detail", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("schedule_firings")
    op.drop_table("schedules")
