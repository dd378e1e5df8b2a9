"""Index the rate-limit lookups (organisation, type, status, completed_at).

Without it SQLite answered "completed in the last five minutes?" through the
(status, created_at) index, reading every completed report: POST p50 was ~70 ms with
100k jobs.

Revision ID: 0002
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_reports_rate_limit", "reports", ["organisation_id", "type", "status", "completed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_reports_rate_limit", table_name="reports")
