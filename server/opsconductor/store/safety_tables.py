"""Tables of the "never silent, never stalled" work: quarantined (poison) events and
idempotency keys of the intake endpoints. Revision 0005."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from opsconductor.store.types import JSONType, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class QuarantinedEvent(SQLModel, table=True):
    """An event whose processing failed on its own (the rest of its batch was processed)."""

    __tablename__ = "quarantined_events"
    __table_args__ = (Index("ix_quarantined_events_event", "event_id"),)

    id: int | None = Field(default=None, sa_column=Column(_ID, primary_key=True, autoincrement=True))
    event_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    quarantined_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    error: str = Field(sa_column=Column(Text, nullable=False))
    payload: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))


class IdempotencyKey(SQLModel, table=True):
    """The first answer to a request that carried an ``Idempotency-Key`` header."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created", "created_at"),)

    # sha256 of (endpoint, API key id, the client's key): clients cannot see each other's keys
    key: str = Field(sa_column=Column(String(64), primary_key=True))
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))
    event_ids: list[int] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    response: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    status_code: int | None = Field(default=None, sa_column=Column(Integer))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


QUARANTINE = QuarantinedEvent.__table__  # type: ignore[attr-defined]
IDEMPOTENCY = IdempotencyKey.__table__  # type: ignore[attr-defined]
