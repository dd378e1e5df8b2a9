"""One request document per report; cancel; the record that a report's files are gone.

- `request` (JSON) replaces `filters` and `timezone`: the whole validated request, as the
  API received it and the run reads it (type, filters, timezone, format, purpose).
- `canceled_at` and `canceled_by_*`: who canceled a report, and when.
- `discarded_at`: when nothing of a failed or canceled report was left in the store.
  Reports that failed before this revision were cleaned by the old failure sensor.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

from reports_pipeline.job_table import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UNDISCARDED = sa.text("status IN ('failed', 'canceled') AND discarded_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("request", sa.JSON))
        batch.add_column(sa.Column("canceled_at", UTCDateTime))
        batch.add_column(sa.Column("canceled_by_id", sa.String(255)))
        batch.add_column(sa.Column("canceled_by_email", sa.String(320)))
        batch.add_column(sa.Column("canceled_by_name", sa.String(255)))
        batch.add_column(sa.Column("discarded_at", UTCDateTime))

    reports = sa.table(
        "reports",
        sa.column("id", sa.String),
        sa.column("type", sa.String),
        sa.column("status", sa.String),
        sa.column("filters", sa.JSON),
        sa.column("timezone", sa.String),
        sa.column("request", sa.JSON),
        sa.column("completed_at", UTCDateTime),
        sa.column("discarded_at", UTCDateTime),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(reports.c.id, reports.c.type, reports.c.filters, reports.c.timezone)
    ).all()
    for row in rows:
        document = {"type": row.type, "filters": row.filters, "timezone": row.timezone}
        connection.execute(
            reports.update()
            .where(reports.c.id == row.id)
            .values(request={**document, "format": "csv"})
        )
    connection.execute(
        reports.update()
        .where(reports.c.status == "failed")
        .values(discarded_at=reports.c.completed_at)
    )

    with op.batch_alter_table("reports") as batch:
        batch.alter_column("request", existing_type=sa.JSON, nullable=False)
        batch.drop_column("filters")
        batch.drop_column("timezone")
    op.create_index(
        "ix_reports_undiscarded",
        "reports",
        ["created_at"],
        sqlite_where=UNDISCARDED,
        postgresql_where=UNDISCARDED,
    )


def downgrade() -> None:
    op.drop_index("ix_reports_undiscarded", table_name="reports")
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("filters", sa.JSON))
        batch.add_column(sa.Column("timezone", sa.String(64)))
    reports = sa.table(
        "reports",
        sa.column("id", sa.String),
        sa.column("request", sa.JSON),
        sa.column("filters", sa.JSON),
        sa.column("timezone", sa.String),
    )
    connection = op.get_bind()
    for row in connection.execute(sa.select(reports.c.id, reports.c.request)).all():
        connection.execute(
            reports.update()
            .where(reports.c.id == row.id)
            .values(filters=row.request["filters"], timezone=row.request["timezone"])
        )
    with op.batch_alter_table("reports") as batch:
        batch.alter_column("filters", existing_type=sa.JSON, nullable=False)
        batch.alter_column("timezone", existing_type=sa.String(64), nullable=False)
        for column in (
            "request",
            "canceled_at",
            "canceled_by_id",
            "canceled_by_email",
            "canceled_by_name",
            "discarded_at",
        ):
            batch.drop_column(column)
