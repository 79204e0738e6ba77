"""The notify stage's tables: the outbox, what was announced per alert and receiver, group timers.

- ``notifications``: one row per (alert, receiver, transition) — the transactional outbox.
  ``idem_key`` is unique, so the same transition can never be queued twice, and it is what
  receivers see as the idempotency key.
- ``notify_state``: per (alert, receiver): was the firing announced, a sequence for keys,
  and the receiver's own reference (Jira issue key, ServiceNow sys_id, Slack thread ts).
- ``notify_groups``: grouping timers (group_wait / group_interval), so they survive restarts.
- ``notification_attempts``: the audit trail, one row per delivery attempt (what was sent, what came back).
- ``notify_inbound``: every accepted inbound sync call (PagerDuty, Jira... webhooks), unique by key: a replay
  is recognised and ignored.

``notifications.progress`` records how far a multi-step delivery got (issue created, comment posted,
transition applied, and what was *sent* but not yet confirmed), so a retry continues instead of repeating.
``lease_owner`` names the worker holding a row in flight; it renews the lease while the row is in flight.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from opsconductor.store.types import JSONType, UTCDateTime

PENDING, SENDING, SENT, DEAD = "pending", "sending", "sent", "dead"
STATUSES = (PENDING, SENDING, SENT, DEAD)


class Notification(SQLModel, table=True):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_due", "receiver", "status", "due_at"),
        Index("ix_notifications_alert_receiver", "alert_id", "receiver", "id"),
        Index("ix_notifications_receiver_status", "receiver", "status"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"),
                                                          primary_key=True, autoincrement=True))
    alert_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    receiver: str = Field(sa_column=Column(String(128), nullable=False))
    route_id: str = Field(sa_column=Column(String(128), nullable=False))
    transition: str = Field(sa_column=Column(String(32), nullable=False))
    idem_key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    group_key: str = Field(sa_column=Column(String(255), nullable=False))
    batch_key: str | None = Field(default=None, sa_column=Column(String(64)))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    payload: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    due_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_status_code: int | None = Field(default=None, sa_column=Column(Integer))
    progress: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    lease_owner: str | None = Field(default=None, sa_column=Column(String(64)))


class NotificationAttempt(SQLModel, table=True):
    __tablename__ = "notification_attempts"
    __table_args__ = (
        Index("ix_notification_attempts_alert", "alert_id", "id"),
        Index("ix_notification_attempts_at", "at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"),
                                                          primary_key=True, autoincrement=True))
    notification_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    alert_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    receiver: str = Field(sa_column=Column(String(128), nullable=False))
    transition: str = Field(sa_column=Column(String(32), nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    outcome: str = Field(sa_column=Column(String(16), nullable=False))  # sent | retry | dead
    status_code: int | None = Field(default=None, sa_column=Column(Integer))
    error: str | None = Field(default=None, sa_column=Column(Text))
    external_id: str | None = Field(default=None, sa_column=Column(String(255)))
    summary: str | None = Field(default=None, sa_column=Column(Text))
    duration_ms: int | None = Field(default=None, sa_column=Column(Integer))


class NotifyInbound(SQLModel, table=True):
    __tablename__ = "notify_inbound"

    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"),
                                                          primary_key=True, autoincrement=True))
    receiver: str = Field(sa_column=Column(String(128), nullable=False))
    key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    alert_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    action: str | None = Field(default=None, sa_column=Column(String(32)))
    actor: str | None = Field(default=None, sa_column=Column(String(255)))
    outcome: str = Field(sa_column=Column(String(255), nullable=False))


class NotifyState(SQLModel, table=True):
    __tablename__ = "notify_state"

    alert_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    receiver: str = Field(sa_column=Column(String(128), primary_key=True))
    route_id: str = Field(sa_column=Column(String(128), nullable=False))
    announced: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    seq: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    ext_ref: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    repeat_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, index=True))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class NotifyGroup(SQLModel, table=True):
    __tablename__ = "notify_groups"

    key: str = Field(sa_column=Column(String(255), primary_key=True))
    next_flush_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    last_flush_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


NOTIFICATIONS = Notification.__table__  # type: ignore[attr-defined]
STATE = NotifyState.__table__  # type: ignore[attr-defined]
GROUPS = NotifyGroup.__table__  # type: ignore[attr-defined]
ATTEMPTS = NotificationAttempt.__table__  # type: ignore[attr-defined]
INBOUND = NotifyInbound.__table__  # type: ignore[attr-defined]
