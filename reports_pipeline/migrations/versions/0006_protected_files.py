"""Protected files: whether a report's file is a password-protected ZIP, and the sealed
password until the run that writes the file has used it (reports_pipeline/protection.py).

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(
            sa.Column("password_protected", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("sealed_password", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("sealed_password")
        batch.drop_column("password_protected")
