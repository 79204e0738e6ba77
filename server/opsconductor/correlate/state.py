"""Tables of the correlate stage: API silences, flap state, correlation members.

Windows, flapping and correlation counts live here, in the database, in the same
transaction as the alert changes they cause; the rules engine itself is stateless.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from opsconductor.store.types import JSONType, UTCDateTime


class Silence(SQLModel, table=True):
    """A silence from the API: matchers + time range. Ended silences stay for history."""

    __tablename__ = "silences"
    __table_args__ = (Index("ix_silences_ends", "ends_at"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"),
                                                           primary_key=True, autoincrement=True))
    matchers: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    starts_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    ends_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    comment: str = Field(sa_column=Column(Text, nullable=False))
    created_by: str = Field(sa_column=Column(String(255), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    ended_by: str | None = Field(default=None, sa_column=Column(String(255)))


class FlapState(SQLModel, table=True):
    """Per fingerprint: recent problem<->clear changes and whether it is flapping."""

    __tablename__ = "rule_flap_state"

    fingerprint: str = Field(sa_column=Column(String(64), primary_key=True))
    rule_id: str = Field(sa_column=Column(String(255), nullable=False))
    last_state: str = Field(sa_column=Column(String(8), nullable=False))  # problem | clear
    changes: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    flapping: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class CorrelationMember(SQLModel, table=True):
    """One member alert (by fingerprint) of one correlation group of one rule."""

    __tablename__ = "rule_correlation_members"
    __table_args__ = (Index("uq_rule_corr_member", "rule_id", "group_key", "fingerprint", unique=True),
                      Index("ix_rule_corr_member_fp", "fingerprint"))

    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"),
                                                           primary_key=True, autoincrement=True))
    rule_id: str = Field(sa_column=Column(String(255), nullable=False))
    group_key: str = Field(sa_column=Column(String(1024), nullable=False))
    fingerprint: str = Field(sa_column=Column(String(64), nullable=False))
    last_seen: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    open: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))


class Heartbeat(SQLModel, table=True):
    """A source that must keep sending: when ``expires_at`` passes, heartbeat_missing opens."""

    __tablename__ = "heartbeats"
    __table_args__ = (Index("ix_heartbeats_expires", "missing", "expires_at"),)

    origin: str = Field(sa_column=Column(String(255), primary_key=True))
    timeout: int = Field(sa_column=Column(Integer, nullable=False))
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    created_by: str = Field(sa_column=Column(String(255), nullable=False))  # an API key name or rule:<id>
    last_seen: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    missing: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))


SILENCES = Silence.__table__  # type: ignore[attr-defined]
FLAPS = FlapState.__table__  # type: ignore[attr-defined]
MEMBERS = CorrelationMember.__table__  # type: ignore[attr-defined]
HEARTBEATS = Heartbeat.__table__  # type: ignore[attr-defined]
