"""correlation that knows the network: parent_id on alerts, depends_on on targets, heartbeats

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opsconductor.store.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TS = opsconductor.store.types.UTCDateTime(timezone=True)
_JSON = opsconductor.store.types.JSONType


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_alerts_parent", ["parent_id"], unique=False)
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("depends_on", _JSON, nullable=False, server_default=sa.text("'[]'")))
    op.create_table(
        "heartbeats",
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("timeout", sa.Integer(), nullable=False),
        sa.Column("labels", _JSON, nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("last_seen", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("missing", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("origin"),
    )
    with op.batch_alter_table("heartbeats", schema=None) as batch_op:
        batch_op.create_index("ix_heartbeats_expires", ["missing", "expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("heartbeats", schema=None) as batch_op:
        batch_op.drop_index("ix_heartbeats_expires")
    op.drop_table("heartbeats")
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.drop_column("depends_on")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_parent")
        batch_op.drop_column("parent_id")
