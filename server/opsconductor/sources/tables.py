"""Tables of the sources stage: targets managed by the API or NetBox, and addon on/off state.

Inventory-file targets are not stored: the file is their source of truth.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, Integer, String
from sqlmodel import Field, SQLModel

from opsconductor.store.types import JSONType, UTCDateTime


class TargetRow(SQLModel, table=True):
    __tablename__ = "targets"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    name: str = Field(sa_column=Column(String(255), nullable=False, unique=True))
    address: str = Field(sa_column=Column(String(255), nullable=False))
    port: int | None = Field(default=None, sa_column=Column(Integer))
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    addons: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    intervals: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    credential: str | None = Field(default=None, sa_column=Column(String(1024)))
    ports: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    credentials: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    enabled: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    depends_on: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False,
                                                                         server_default="[]"))
    origin: str = Field(sa_column=Column(String(32), nullable=False))  # api | netbox
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class AddonStateRow(SQLModel, table=True):
    __tablename__ = "addon_states"

    name: str = Field(sa_column=Column(String(255), primary_key=True))
    enabled: bool = Field(sa_column=Column(Boolean, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
