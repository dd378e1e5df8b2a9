"""Identity claims as unbounded text: what a token says is what reads back.

Identity providers send `sub` values and names of hundreds of characters and emails over
320; PostgreSQL refused them in VARCHAR(255/320) columns (a 500). The API bounds each
claim at 1,024 characters instead (api/auth.py).

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = {
    "requested_by_id": (sa.String(255), False),
    "requested_by_email": (sa.String(320), True),
    "requested_by_name": (sa.String(255), True),
    "canceled_by_id": (sa.String(255), True),
    "canceled_by_email": (sa.String(320), True),
    "canceled_by_name": (sa.String(255), True),
}


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        for name, (old, nullable) in COLUMNS.items():
            batch.alter_column(name, existing_type=old, type_=sa.Text, nullable=nullable)


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        for name, (old, nullable) in COLUMNS.items():
            batch.alter_column(name, existing_type=sa.Text, type_=old, nullable=nullable)
