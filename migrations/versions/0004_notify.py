"""notify stage (outbox, deliveries)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opsconductor.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = opsconductor.store.types.UTCDateTime(timezone=True)
_JSON = opsconductor.store.types.JSONType


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.BigInteger(), nullable=False),
        sa.Column("receiver", sa.String(length=128), nullable=False),
        sa.Column("route_id", sa.String(length=128), nullable=False),
        sa.Column("transition", sa.String(length=32), nullable=False),
        sa.Column("idem_key", sa.String(length=200), nullable=False),
        sa.Column("group_key", sa.String(length=255), nullable=False),
        sa.Column("batch_key", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("lease_until", _TS, nullable=True),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idem_key"),
    )
    op.create_index("ix_notifications_due", "notifications", ["receiver", "status", "due_at"])
    op.create_index("ix_notifications_alert_receiver", "notifications", ["alert_id", "receiver", "id"])
    op.create_index("ix_notifications_receiver_status", "notifications", ["receiver", "status"])
    op.create_table(
        "notify_state",
        sa.Column("alert_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("receiver", sa.String(length=128), nullable=False),
        sa.Column("route_id", sa.String(length=128), nullable=False),
        sa.Column("announced", sa.Boolean(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("ext_ref", _JSON, nullable=False),
        sa.Column("repeat_at", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("alert_id", "receiver"),
    )
    op.create_index("ix_notify_state_repeat_at", "notify_state", ["repeat_at"])
    op.create_table(
        "notify_groups",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("next_flush_at", _TS, nullable=True),
        sa.Column("last_flush_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("notify_groups")
    op.drop_index("ix_notify_state_repeat_at", table_name="notify_state")
    op.drop_table("notify_state")
    op.drop_index("ix_notifications_receiver_status", table_name="notifications")
    op.drop_index("ix_notifications_alert_receiver", table_name="notifications")
    op.drop_index("ix_notifications_due", table_name="notifications")
    op.drop_table("notifications")
