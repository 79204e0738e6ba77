"""correlate stage (silences, rule state)

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import opsconductor.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False)


def upgrade() -> None:
    utc = opsconductor.store.types.UTCDateTime(timezone=True)
    op.create_table(
        "silences",
        _id(),
        sa.Column("matchers", _json(), nullable=False),
        sa.Column("starts_at", utc, nullable=False),
        sa.Column("ends_at", utc, nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("ended_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_silences_ends", "silences", ["ends_at"])
    op.create_table(
        "rule_flap_state",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=255), nullable=False),
        sa.Column("last_state", sa.String(length=8), nullable=False),
        sa.Column("changes", _json(), nullable=False),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.PrimaryKeyConstraint("fingerprint"),
    )
    op.create_table(
        "rule_correlation_members",
        _id(),
        sa.Column("rule_id", sa.String(length=255), nullable=False),
        sa.Column("group_key", sa.String(length=1024), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("last_seen", utc, nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("uq_rule_corr_member", "rule_correlation_members", ["rule_id", "group_key", "fingerprint"],
                    unique=True)
    # memberships are looked up, closed and replaced by fingerprint for every batch
    op.create_index("ix_rule_corr_member_fp", "rule_correlation_members", ["fingerprint"])


def downgrade() -> None:
    op.drop_index("ix_rule_corr_member_fp", table_name="rule_correlation_members")
    op.drop_index("uq_rule_corr_member", table_name="rule_correlation_members")
    op.drop_table("rule_correlation_members")
    op.drop_table("rule_flap_state")
    op.drop_index("ix_silences_ends", table_name="silences")
    op.drop_table("silences")
