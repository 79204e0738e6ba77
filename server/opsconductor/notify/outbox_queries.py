"""Outbox reads and the operator's retry: the statements behind ``/api/v1/notifications`` and receivers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.errors import Conflict, NotFound
from opsconductor.notify.tables import DEAD, NOTIFICATIONS, PENDING

N = NOTIFICATIONS
Row = dict[str, Any]


async def list_notifications(conn: AsyncConnection, *, alert_id: int | None, receiver: str | None,
                             status: str | None, before_id: int | None, limit: int) -> list[Row]:
    """Outbox rows, newest first."""
    stmt = select(N).order_by(N.c.id.desc()).limit(limit)
    if alert_id is not None:
        stmt = stmt.where(N.c.alert_id == alert_id)
    if receiver is not None:
        stmt = stmt.where(N.c.receiver == receiver)
    if status is not None:
        stmt = stmt.where(N.c.status == status)
    if before_id is not None:
        stmt = stmt.where(N.c.id < before_id)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def requeue(conn: AsyncConnection, notification_id: int, now: datetime) -> Row:
    """A dead (or waiting) notification due again now; its max_age counts from now."""
    row = (await conn.execute(select(N).where(N.c.id == notification_id))).mappings().first()
    if row is None:
        raise NotFound(f"notification {notification_id} does not exist")
    if row["status"] not in (DEAD, PENDING):
        raise Conflict(f"notification {notification_id} is {row['status']}; only dead or pending ones are retried")
    await conn.execute(update(N).where(N.c.id == notification_id).values(
        status=PENDING, due_at=now, created_at=now, lease_until=None))
    return dict((await conn.execute(select(N).where(N.c.id == notification_id))).mappings().one())


async def counts_by_receiver(conn: AsyncConnection) -> dict[str, dict[str, int]]:
    """receiver -> status -> number of outbox rows."""
    rows = (await conn.execute(select(N.c.receiver, N.c.status, func.count()).group_by(N.c.receiver,
                                                                                        N.c.status))).all()
    by: dict[str, dict[str, int]] = {}
    for name, status, n in rows:
        by.setdefault(name, {})[status] = int(n)
    return by
