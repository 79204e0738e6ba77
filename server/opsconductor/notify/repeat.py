"""repeat_interval: remind receivers of alerts that are still active after the interval.

A sweep (run by the delivery worker) finds announced alerts whose ``repeat_at`` passed; active
ones get a ``repeat`` notification (ticketing receivers skip it: the ticket is the reminder),
closed or acknowledged ones stop repeating (the state machine's ``remind`` rule). It takes the
store's processing lock so its sequence numbers never race the outbox sink.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.model.lifecycle import remind
from opsconductor.notify.config import NotifyConfig
from opsconductor.notify.outbox import Planned, _State, queue
from opsconductor.notify.tables import STATE
from opsconductor.store.alert_store import processing_lock
from opsconductor.store.alert_writer import ALERTS

BATCH = 500


async def anything_due(conn: AsyncConnection, now: datetime) -> bool:
    row = await conn.execute(select(STATE.c.alert_id).where(STATE.c.repeat_at <= now).limit(1))
    return row.first() is not None


async def sweep(conn: AsyncConnection, cfg: NotifyConfig, enabled: Callable[[str], bool], now: datetime) -> int:
    """Queue the due reminders; returns how many were queued."""
    await processing_lock(conn)
    due = list((await conn.execute(
        select(STATE).where(STATE.c.repeat_at <= now, STATE.c.announced.is_(True)).limit(BATCH))).mappings())
    if not due:
        return 0
    alerts = {r["id"]: dict(r) for r in (await conn.execute(
        select(ALERTS).where(ALERTS.c.id.in_(sorted({d["alert_id"] for d in due}))))).mappings()}
    routes = cfg.routes_by_id()
    states: dict[tuple[int, str], _State] = {}
    planned: list[Planned] = []
    for d in due:
        st = _State(d["alert_id"], d["receiver"], d["route_id"], True, d["seq"], None, False, dirty=True)
        states[(st.alert_id, st.receiver)] = st
        alert = alerts.get(st.alert_id)
        route = routes.get(st.route_id)
        reminder = remind(alert)
        if reminder is None or route is None or route.receiver != st.receiver:
            continue  # closed, acknowledged or re-routed: no more reminders
        if not route.repeat_interval or not enabled(st.receiver):
            continue
        st.repeat_at = now + timedelta(seconds=route.repeat_interval)
        planned.append(Planned(reminder.alert, st.receiver, route, reminder.kind, reminder))
    await queue(conn, planned, states, now)
    return len(planned)
