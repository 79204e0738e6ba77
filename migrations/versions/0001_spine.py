"""spine: alerts, alert_history, events, api_keys

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 07:51:34.662458
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import opsconductor.store.types

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alert_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('alert_id', sa.BigInteger(), nullable=False),
    sa.Column('at', opsconductor.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.Column('severity', sa.String(length=16), nullable=True),
    sa.Column('previous_status', sa.String(length=16), nullable=True),
    sa.Column('previous_severity', sa.String(length=16), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alert_history', schema=None) as batch_op:
        batch_op.create_index('ix_alert_history_alert', ['alert_id', 'id'], unique=False)

    op.create_table('alerts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('resource', sa.String(length=255), nullable=False),
    sa.Column('component', sa.String(length=255), nullable=True),
    sa.Column('event', sa.String(length=255), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('previous_severity', sa.String(length=16), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('value', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True),
    sa.Column('labels', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('source', sa.String(length=128), nullable=True),
    sa.Column('first_seen', opsconductor.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen', opsconductor.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('duplicate_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('acknowledged_by', sa.String(length=255), nullable=True),
    sa.Column('acknowledged_at', opsconductor.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', opsconductor.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('suppressed_reason', sa.Text(), nullable=True),
    sa.Column('rule_id', sa.String(length=255), nullable=True),
    sa.Column('ruleset_version', sa.String(length=64), nullable=True),
    sa.Column('timeout', sa.Integer(), nullable=False),
    sa.Column('expires_at', opsconductor.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('trace', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', opsconductor.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index('ix_alerts_expires', ['status', 'expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_fingerprint'), ['fingerprint'], unique=False)
        batch_op.create_index('ix_alerts_resource', ['resource'], unique=False)
        batch_op.create_index('ix_alerts_last_seen', ['last_seen', 'id'], unique=False)
        batch_op.create_index('ix_alerts_status_id', ['status', 'id'], unique=False)
        batch_op.create_index('uq_alerts_open_fingerprint', ['fingerprint'], unique=True, sqlite_where=sa.text("status IN ('active', 'acknowledged', 'suppressed')"), postgresql_where=sa.text("status IN ('active', 'acknowledged', 'suppressed')"))

    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('created_at', opsconductor.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', opsconductor.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', opsconductor.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash'),
    sa.UniqueConstraint('name')
    )
    op.create_table('events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('received_at', opsconductor.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('processed', sa.Boolean(), nullable=False),
    sa.Column('processed_at', opsconductor.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('alert_id', sa.BigInteger(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_unprocessed', ['id'], unique=False, sqlite_where=sa.text('processed = 0'), postgresql_where=sa.text('processed = false'))



def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_unprocessed', sqlite_where=sa.text('processed = 0'), postgresql_where=sa.text('processed = false'))

    op.drop_table('events')
    op.drop_table('api_keys')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('uq_alerts_open_fingerprint', sqlite_where=sa.text("status IN ('active', 'acknowledged', 'suppressed')"), postgresql_where=sa.text("status IN ('active', 'acknowledged', 'suppressed')"))
        batch_op.drop_index('ix_alerts_status_id')
        batch_op.drop_index('ix_alerts_resource')
        batch_op.drop_index('ix_alerts_last_seen')
        batch_op.drop_index(batch_op.f('ix_alerts_fingerprint'))
        batch_op.drop_index('ix_alerts_expires')

    op.drop_table('alerts')
    with op.batch_alter_table('alert_history', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_history_alert')

    op.drop_table('alert_history')
