"""What the Alertmanager API reads and writes: API silences (the rows the correlator's suppression
reads) and every open alert, in the columns Alertmanager shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.correlate.state import SILENCES
from opsconductor.errors import Conflict, NotFound
from opsconductor.model.lifecycle import Row
from opsconductor.store.alert_writer import ALERTS
from opsconductor.store.tables import OPEN_STATUS_SQL

MAX_SILENCES = 10_000


async def list_silences(conn: AsyncConnection, limit: int = MAX_SILENCES) -> list[Row]:
    """Silences, newest first."""
    stmt = select(SILENCES).order_by(SILENCES.c.id.desc()).limit(limit)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def get_silence(conn: AsyncConnection, silence_id: int) -> Row:
    row = (await conn.execute(select(SILENCES).where(SILENCES.c.id == silence_id))).mappings().first()
    if row is None:
        raise NotFound(f"silence {silence_id} not found")
    return dict(row)


async def add_silence(conn: AsyncConnection, *, matchers: dict[str, Any], starts_at: datetime, ends_at: datetime,
                      comment: str, created_by: str, now: datetime) -> Row:
    res = await conn.execute(insert(SILENCES).returning(SILENCES.c.id).values(
        matchers=matchers, starts_at=starts_at, ends_at=ends_at, comment=comment, created_by=created_by,
        created_at=now))
    return await get_silence(conn, int(res.scalar_one()))


async def expire_silence(conn: AsyncConnection, silence_id: int, *, actor: str, now: datetime) -> Row:
    """End a silence now; it stays, expired, for history. Ending an ended silence is a Conflict."""
    row = await get_silence(conn, silence_id)
    if row["ends_at"] <= now:
        raise Conflict(f"silence {silence_id} has already expired")
    await conn.execute(update(SILENCES).where(SILENCES.c.id == silence_id).values(
        ends_at=max(now, row["starts_at"]), ended_by=actor))
    return await get_silence(conn, silence_id)


# Without `trace` and the other columns Alertmanager has no field for: a read of every open alert
# is what each amtool/karma/Grafana refresh costs.
_AM_COLUMNS = [ALERTS.c[n] for n in (
    "id", "fingerprint", "resource", "component", "event", "severity", "status", "summary", "value", "labels",
    "source", "first_seen", "last_seen", "updated_at", "expires_at", "duplicate_count", "acknowledged_by",
    "acknowledged_at", "suppressed_reason")]
# The literal condition of the partial index on open alerts, so both databases use it.
_OPEN = select(*_AM_COLUMNS).where(text(OPEN_STATUS_SQL)).order_by(ALERTS.c.id.desc())


async def open_alerts(conn: AsyncConnection, limit: int = 100_000) -> list[Row]:
    """Every open alert (active, acknowledged, suppressed), newest first."""
    return [dict(r) for r in (await conn.execute(_OPEN.limit(limit))).mappings()]
