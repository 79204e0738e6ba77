"""notify: delivery progress and lease owner, per-attempt audit, inbound (two-way sync) receipts

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opsconductor.store.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = opsconductor.store.types.UTCDateTime(timezone=True)
_JSON = opsconductor.store.types.JSONType


def upgrade() -> None:
    with op.batch_alter_table("notifications") as b:
        b.add_column(sa.Column("progress", _JSON, nullable=True))
        b.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
    op.create_table(
        "notification_attempts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("notification_id", sa.BigInteger(), nullable=False),
        sa.Column("alert_id", sa.BigInteger(), nullable=False),
        sa.Column("receiver", sa.String(length=128), nullable=False),
        sa.Column("transition", sa.String(length=32), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notification_attempts_alert", "notification_attempts", ["alert_id", "id"])
    op.create_index("ix_notification_attempts_at", "notification_attempts", ["at"])
    op.create_table(
        "notify_inbound",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("receiver", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("alert_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column("outcome", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("notify_inbound")
    op.drop_index("ix_notification_attempts_at", table_name="notification_attempts")
    op.drop_index("ix_notification_attempts_alert", table_name="notification_attempts")
    op.drop_table("notification_attempts")
    with op.batch_alter_table("notifications") as b:
        b.drop_column("lease_owner")
        b.drop_column("progress")
