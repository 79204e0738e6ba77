"""Table definitions of the spine: alerts, alert_history, events, api_keys.

Rows are storage, never the API: the REST layer has its own response types.
Later stages keep their own tables in their own modules (silences, targets,
notifications) and their own Alembic revisions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, SmallInteger, String, Text, text
from sqlmodel import Field, SQLModel

from opsconductor.model.alert import OPEN_STATUSES
from opsconductor.store.types import JSONType, UTCDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY columns.
BIGINT_PK = BigInteger().with_variant(Integer, "sqlite")

OPEN_STATUS_SQL = f"status IN ({', '.join(repr(s.value) for s in OPEN_STATUSES)})"


class Alert(SQLModel, table=True):
    """The one alert table: one row per fingerprint per open period."""

    __tablename__ = "alerts"
    __table_args__ = (
        # The dedup identity is unique among open alerts only: a resolved alert keeps its row and a
        # new occurrence opens a new one.
        Index(
            "uq_alerts_open_fingerprint",
            "fingerprint",
            unique=True,
            sqlite_where=text(OPEN_STATUS_SQL),
            postgresql_where=text(OPEN_STATUS_SQL),
        ),
        Index("ix_alerts_status_id", "status", "id"),
        Index("ix_alerts_resource", "resource"),
        Index("ix_alerts_last_seen", "last_seen", "id"),
        Index("ix_alerts_expires", "status", "expires_at"),
        Index("ix_alerts_parent", "parent_id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BIGINT_PK, primary_key=True, autoincrement=True))
    fingerprint: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    resource: str = Field(sa_column=Column(String(255), nullable=False))
    component: str | None = Field(default=None, sa_column=Column(String(255)))
    event: str = Field(sa_column=Column(String(255), nullable=False))
    severity: str = Field(sa_column=Column(String(16), nullable=False))
    previous_severity: str | None = Field(default=None, sa_column=Column(String(16)))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    summary: str | None = Field(default=None, sa_column=Column(Text))
    value: Any = Field(default=None, sa_column=Column(JSONType))
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    source: str | None = Field(default=None, sa_column=Column(String(128)))
    first_seen: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    last_seen: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    duplicate_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    acknowledged_by: str | None = Field(default=None, sa_column=Column(String(255)))
    acknowledged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    suppressed_reason: str | None = Field(default=None, sa_column=Column(Text))
    rule_id: str | None = Field(default=None, sa_column=Column(String(255)))
    ruleset_version: str | None = Field(default=None, sa_column=Column(String(64)))
    timeout: int = Field(default=86_400, sa_column=Column(Integer, nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    trace: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # the correlation parent (incident) this alert is a child of
    parent_id: int | None = Field(default=None, sa_column=Column(BigInteger))


class AlertHistory(SQLModel, table=True):
    """Append-only: every status or severity change, ack, note; who or what did it, and why."""

    __tablename__ = "alert_history"
    __table_args__ = (Index("ix_alert_history_alert", "alert_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BIGINT_PK, primary_key=True, autoincrement=True))
    alert_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    status: str | None = Field(default=None, sa_column=Column(String(16)))
    severity: str | None = Field(default=None, sa_column=Column(String(16)))
    previous_status: str | None = Field(default=None, sa_column=Column(String(16)))
    previous_severity: str | None = Field(default=None, sa_column=Column(String(16)))
    text: str | None = Field(default=None, sa_column=Column(Text))
    actor: str = Field(sa_column=Column(String(255), nullable=False))
    event_id: int | None = Field(default=None, sa_column=Column(BigInteger))


class EventRecord(SQLModel, table=True):
    """Append-only log of every accepted normalized event, with its processing outcome."""

    __tablename__ = "events"
    __table_args__ = (
        Index(
            "ix_events_unprocessed",
            "id",
            sqlite_where=text("processed = 0"),
            postgresql_where=text("processed = false"),
        ),
        Index(
            "ix_events_unprocessed_part",
            "part",
            "id",
            sqlite_where=text("processed = 0"),
            postgresql_where=text("processed = false"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BIGINT_PK, primary_key=True, autoincrement=True))
    part: int = Field(default=0, sa_column=Column(SmallInteger, nullable=False, server_default=text("0")))
    """Processing partition: a hash of the resource (``store/partitions.py``)."""
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    payload: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    processed: bool = Field(default=False, nullable=False)
    processed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    alert_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    outcome: str | None = Field(default=None, sa_column=Column(String(16)))


class ApiKey(SQLModel, table=True):
    """An API key; only its SHA-256 is stored, the key itself is shown once at creation."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(255), nullable=False, unique=True))
    prefix: str = Field(sa_column=Column(String(16), nullable=False))
    key_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    scope: str = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
