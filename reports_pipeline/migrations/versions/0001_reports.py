"""Create the reports job table.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from reports_pipeline.job_table import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ACTIVE = sa.text("status IN ('pending', 'processing')")


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("organisation_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("filters", sa.JSON, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("requested_by_id", sa.String(255), nullable=False),
        sa.Column("requested_by_email", sa.String(320)),
        sa.Column("requested_by_name", sa.String(255)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime),
        sa.Column("completed_at", UTCDateTime),
        sa.Column("rows_written", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("row_count", sa.BigInteger),
        sa.Column("file_size_bytes", sa.BigInteger),
        sa.Column("file_name", sa.String(255)),
        sa.Column("object_key", sa.String(1024)),
        sa.Column("error", sa.Text),
        sa.Column("dagster_run_id", sa.String(64)),
    )
    op.create_index("ix_reports_org_created", "reports", ["organisation_id", "created_at", "id"])
    op.create_index("ix_reports_run", "reports", ["dagster_run_id"])
    op.create_index("ix_reports_status_created", "reports", ["status", "created_at"])
    # Belt and braces under the rate limit's lock: one active export per type per organisation.
    op.create_index(
        "ux_reports_one_active",
        "reports",
        ["organisation_id", "type"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )


def downgrade() -> None:
    op.drop_table("reports")
