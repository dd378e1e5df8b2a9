"""What the upload stored, so a download link is only signed for the same object.

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("file_sha256", sa.String(64)))
        batch.add_column(sa.Column("file_etag", sa.String(128)))
        batch.add_column(sa.Column("file_checksum", sa.String(128)))


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("file_checksum")
        batch.drop_column("file_etag")
        batch.drop_column("file_sha256")
