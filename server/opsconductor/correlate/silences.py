"""Silence storage: the statements behind ``/api/v1/silences`` (the API holds no SQL)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.correlate.state import SILENCES
from opsconductor.errors import Conflict, NotFound

Row = dict[str, Any]
Status = Literal["active", "pending", "expired", "all"]


async def create_silence(conn: AsyncConnection, *, matchers: dict[str, Any], starts_at: datetime,
                         ends_at: datetime, comment: str, created_by: str, now: datetime) -> Row:
    res = await conn.execute(insert(SILENCES).returning(SILENCES.c.id).values(
        matchers=matchers, starts_at=starts_at, ends_at=ends_at, comment=comment, created_by=created_by,
        created_at=now))
    return await get_silence(conn, res.scalar_one())


async def list_silences(conn: AsyncConnection, status: Status, now: datetime, limit: int) -> list[Row]:
    """Newest first; ``status`` chooses active, pending or expired (history), or all."""
    stmt = select(SILENCES).order_by(SILENCES.c.id.desc()).limit(limit)
    if status == "active":
        stmt = stmt.where(SILENCES.c.starts_at <= now, SILENCES.c.ends_at > now)
    elif status == "pending":
        stmt = stmt.where(SILENCES.c.starts_at > now)
    elif status == "expired":
        stmt = stmt.where(SILENCES.c.ends_at <= now)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def get_silence(conn: AsyncConnection, silence_id: int) -> Row:
    row = (await conn.execute(select(SILENCES).where(SILENCES.c.id == silence_id))).mappings().first()
    if row is None:
        raise NotFound(f"no silence with id {silence_id}")
    return dict(row)


async def end_silence(conn: AsyncConnection, silence_id: int, *, ended_by: str, now: datetime) -> Row:
    """End it now (a pending one ends at its start); it stays, expired, for history."""
    row = await get_silence(conn, silence_id)
    if row["ends_at"] <= now:
        raise Conflict(f"silence {silence_id} has already ended")
    await conn.execute(update(SILENCES).where(SILENCES.c.id == silence_id).values(
        ends_at=max(now, row["starts_at"]), ended_by=ended_by))
    return await get_silence(conn, silence_id)
