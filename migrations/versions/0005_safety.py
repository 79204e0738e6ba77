"""quarantined events, idempotency keys

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opsconductor.store.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = opsconductor.store.types.UTCDateTime(timezone=True)
_JSON = opsconductor.store.types.JSONType


def upgrade() -> None:
    op.create_table(
        "quarantined_events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("quarantined_at", _TS, nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_quarantined_events_event", "quarantined_events", ["event_id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("event_ids", _JSON, nullable=False),
        sa.Column("response", _JSON, nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_quarantined_events_event", table_name="quarantined_events")
    op.drop_table("quarantined_events")
