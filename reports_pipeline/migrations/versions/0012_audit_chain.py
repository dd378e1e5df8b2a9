"""Chain each organisation's audit events by hash, and keep each chain's head.

Events recorded before this migration are chained here, oldest first, so every trail is
verifiable from its first event. The append-only triggers are lifted for that one update
only, inside the migration's transaction.

Revision ID: 0012
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

from reports_pipeline.audit import GENESIS, audit_events, audit_heads, chain_hash

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_heads",
        sa.Column("organisation_id", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.add_column(
        "audit_events", sa.Column("hash", sa.String(64), nullable=False, server_default="")
    )
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        _chain_existing(conn)
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
        op.alter_column("audit_events", "hash", server_default=None)
        return
    # SQLite drops a column default only by rebuilding the table, which drops its triggers.
    triggers = conn.execute(
        sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
        {"t": "audit_events"},
    ).all()
    for name, _ in triggers:
        op.execute(f'DROP TRIGGER "{name}"')
    _chain_existing(conn)
    with op.batch_alter_table("audit_events", recreate="always") as batch:
        batch.alter_column("hash", server_default=None)
    for _, sql in triggers:
        op.execute(sql)


def _chain_existing(conn: sa.Connection) -> None:
    heads: dict[str, tuple[int, str]] = defaultdict(lambda: (0, GENESIS))
    for row in conn.execute(audit_events.select().order_by(audit_events.c.id)).all():
        event = row._mapping
        digest = chain_hash(heads[event["organisation_id"]][1], dict(event))
        conn.execute(
            audit_events.update().where(audit_events.c.id == event["id"]).values(hash=digest)
        )
        heads[event["organisation_id"]] = (event["id"], digest)
    if heads:
        conn.execute(
            audit_heads.insert(),
            [{"organisation_id": o, "event_id": i, "hash": h} for o, (i, h) in heads.items()],
        )


def downgrade() -> None:
    op.drop_table("audit_heads")
    op.drop_column("audit_events", "hash")
