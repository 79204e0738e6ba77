"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import JSON, DateTime, Table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        dt: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
"""JSON on SQLite, JSONB on PostgreSQL."""


def sqlite_time(at: datetime) -> str:
    """A UTC time as SQLAlchemy stores it in SQLite (naive, microseconds), for driver-level SQL."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def driver_value(column: Any, value: Any, *, sqlite: bool) -> Any:
    """A value as the column's type would bind it, for the driver's bulk path: JSON pre-encoded
    by msgspec (None as JSON null, as SQLAlchemy's JSON type writes it), UTC times as stored."""
    if isinstance(column.type, JSON):
        return msgspec.json.encode(value).decode()
    if isinstance(column.type, UTCDateTime) and value is not None:
        return sqlite_time(value) if sqlite else value
    return value


async def insert_rows(conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT many rows through the driver's executemany, values converted once by
    :func:`driver_value`: SQLAlchemy's ``insert(table), rows`` builds and converts the parameters
    of every row and column in Python (its costliest part under a batch). Every row has the
    first row's keys; columns left out get the database's defaults."""
    if not rows:
        return
    sqlite = conn.dialect.name == "sqlite"
    columns = [table.c[name] for name in rows[0]]  # KeyError for anything that is not a column
    marks = ", ".join("?" if sqlite else f"${i}" for i in range(1, len(columns) + 1))
    sql = f"INSERT INTO {table.name} ({', '.join(c.name for c in columns)}) VALUES ({marks})"
    await conn.exec_driver_sql(sql, [tuple(driver_value(c, r[c.name], sqlite=sqlite) for c in columns) for r in rows])

