"""rows_expected: how many rows an export matches, once its run has counted them.

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("rows_expected", sa.BigInteger))


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("rows_expected")
