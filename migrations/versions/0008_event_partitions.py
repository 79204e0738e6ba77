"""processing partitions: each logged event's partition (a hash of its resource)

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Events logged before this revision are in partition 0; whoever processes them under another
    # partition's scope finds their alerts elsewhere and runs them under the exclusive lock.
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("part", sa.SmallInteger(), nullable=False, server_default=sa.text("0")))
        batch_op.create_index("ix_events_unprocessed_part", ["part", "id"], unique=False,
                              sqlite_where=sa.text("processed = 0"), postgresql_where=sa.text("processed = false"))


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_unprocessed_part")
        batch_op.drop_column("part")
