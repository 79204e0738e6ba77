"""Background housekeeping: expire alerts not seen for their timeout; refresh gauges."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from opsconductor.errors import Unavailable
from opsconductor.store.alert_writer import ALERTS
from opsconductor.store.event_log import backlog

if TYPE_CHECKING:
    from opsconductor.runtime import Runtime

log = logging.getLogger(__name__)


async def expire_due(rt: Runtime) -> int:
    """Expire every open alert whose last_seen + timeout has passed; returns how many."""
    return await rt.pipeline.expire_due()


async def refresh_gauges(rt: Runtime) -> int:
    async with rt.db.read() as conn:
        rows = (await conn.execute(
            select(ALERTS.c.status, ALERTS.c.severity, func.count()).group_by(ALERTS.c.status, ALERTS.c.severity)
        )).all()
        n, _ = await backlog(conn)
    rt.metrics.alerts.clear()
    for status, severity, count in rows:
        rt.metrics.alerts.labels(status=status, severity=severity).set(count)
    rt.metrics.backlog.set(n)
    return sum(int(count) for _, _, count in rows)


PLANNER_STATS_EVERY_S = 600.0


async def refresh_planner_stats(rt: Runtime) -> None:
    """Without fresh statistics SQLite sorts every open alert for a page of 100 (it prefers the
    status index to the last_seen one) and PostgreSQL scans instead of using the fingerprint index."""
    await rt.db.analyze()


async def housekeeping_loop(rt: Runtime) -> None:
    stats_due, stats_rows, rows = 0.0, 0, 0
    while True:
        try:
            # Refresh on a timer, and as soon as the table has grown or shrunk a lot.
            if time.monotonic() >= stats_due or abs(rows - stats_rows) > max(1000, stats_rows // 2):
                await refresh_planner_stats(rt)
                stats_due, stats_rows = time.monotonic() + PLANNER_STATS_EVERY_S, rows
            expired = await expire_due(rt)
            if expired:
                log.info("expired %d alerts", expired)
            rows = await refresh_gauges(rt)
        except Unavailable as exc:
            log.warning("housekeeping skipped: %s", exc)
        await asyncio.sleep(rt.settings.housekeeping_interval_s)
