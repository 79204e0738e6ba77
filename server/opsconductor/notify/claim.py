"""Claiming due outbox rows for a receiver: pick, lock (PostgreSQL), lease in this worker's name.

A mixin of :class:`~opsconductor.notify.worker.Worker`, split out to keep each module readable.
For one (alert, receiver) only the oldest unsettled row is ever claimed, so deliveries stay in order.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.notify.receivers.base import Delivery, Item
from opsconductor.notify.service import NotifyService
from opsconductor.notify.tables import NOTIFICATIONS, PENDING, SENDING, STATE
from opsconductor.store.alert_writer import HISTORY

MAX_BATCH = 50
LEASE_S = 8.0  # a claimed row's lease; renewed every HEARTBEAT_S while this worker holds it
N = NOTIFICATIONS


def due_clause(now: datetime, *, expired_leases: bool, probe: bool = False) -> Any:
    # Two index-friendly shapes: due pending rows (every tick), expired leases (now and then).
    if expired_leases:
        return (N.c.status == SENDING) & (N.c.lease_until < now)
    if probe:  # a probe of a receiver that was down: a retried row, whatever its backoff says
        return (N.c.status == PENDING) & ((N.c.due_at <= now) | (N.c.attempts > 0))
    return (N.c.status == PENDING) & (N.c.due_at <= now)


def pack(groups: list[list[Any]], slots: int, combine: int) -> list[list[Any]]:
    """At most ``slots`` deliveries; with ``combine`` > 1, whole groups share a delivery up to that many rows.

    Rows that already carry a batch_key (an earlier claim sent them together) stay exactly as they were.
    """
    out: list[list[Any]] = []
    current: list[Any] = []
    for g in groups:
        if combine <= 1 or g[0]["batch_key"]:
            out.append(g)
        elif current and len(current) + len(g) > combine:
            out.append(current)
            current = list(g)
        else:
            current.extend(g)
        if len(out) >= slots:
            return out[:slots]
    if current:
        out.append(current)
    return out[:slots]


class Claims(ABC):
    """Claiming rows for delivery; the :class:`~opsconductor.notify.worker.Worker` is the one subclass."""

    service: NotifyService
    owner: str
    held: set[int]

    @abstractmethod
    async def _checkpoint(self, item: Item) -> None:
        """Record a delivery's progress before its next step is sent (the worker writes it)."""

    async def _claim(self, conn: AsyncConnection, receiver: str, slots: int, now: datetime, *,
                     expired_leases: bool, probe: bool = False) -> list[tuple[str, Delivery, int, list[datetime]]]:
        sender = self.service.senders[receiver]
        per = MAX_BATCH if sender.batchable else 1
        combine = max(1, sender.max_batch) if sender.batchable else 1
        if probe:
            per = combine = 1
        # a probe looks at a wide window: blocked follow-ups (a resolve behind its alert's unsent firing) sort
        # first, having never been tried, and must not hide the rows that can go
        window = 500 if probe else min(2000, slots * combine + per)
        rows = await self._candidates(conn, receiver, now, expired_leases, window, probe)
        if not rows:
            return []
        groups: dict[str, list[Any]] = {}
        for r in rows:
            key = r["batch_key"] or (r["group_key"] if per > 1 else f"row-{r['id']}")
            g = groups.setdefault(key, [])
            if len(g) < per:
                g.append(r)
        picked = pack(list(groups.values()), slots, combine)
        if conn.dialect.name == "postgresql":
            # Lock only what we picked; rows another process holds are skipped (it sends them). The WHERE
            # is re-checked on the newest row version, so a row claimed meanwhile is not taken twice.
            locked = set((await conn.execute(
                select(N.c.id).where(N.c.id.in_([r["id"] for g in picked for r in g]),
                                     due_clause(now, expired_leases=expired_leases, probe=probe))
                .with_for_update(skip_locked=True))).scalars())
            picked = [kept for g in picked if (kept := [r for r in g if r["id"] in locked])]
            if not picked:
                return []
        ids = [r["id"] for g in picked for r in g]
        payloads: dict[int, Any] = {}
        progress: dict[int, dict[str, Any]] = {}
        for i, payload, prog in (await conn.execute(select(N.c.id, N.c.payload, N.c.progress)
                                                    .where(N.c.id.in_(ids)))).all():
            payloads[i] = payload
            if prog:
                progress[i] = dict(prog)
        alert_ids = sorted({r["alert_id"] for g in picked for r in g})
        refs: dict[int, dict[str, Any]] = {}
        if sender.uses_ref:
            refs = {a: dict(ref or {}) for a, ref in (await conn.execute(
                select(STATE.c.alert_id, STATE.c.ext_ref).where(STATE.c.receiver == receiver,
                                                                STATE.c.alert_id.in_(alert_ids)))).all()}
        history: dict[int, list[dict[str, Any]]] = defaultdict(list)
        if sender.uses_history:
            for h in (await conn.execute(select(HISTORY).where(HISTORY.c.alert_id.in_(alert_ids))
                                         .order_by(HISTORY.c.id))).mappings():
                history[h["alert_id"]].append({k: v for k, v in h.items() if k not in ("id", "alert_id")})
        lease = now + timedelta(seconds=LEASE_S)  # renewed by the heartbeat while held
        batch_keys: list[dict[str, Any]] = []
        out = []
        for g in picked:
            items = [Item(r["id"], r["alert_id"], r["transition"], r["idem_key"], dict(payloads[r["id"]]),
                          refs.get(r["alert_id"], {}), history[r["alert_id"]][-20:],
                          self.service.links(r["alert_id"]), r["group_key"], progress.get(r["id"], {}),
                          r["attempts"] + 1) for r in g]
            if len(items) == 1:
                idem = items[0].idem_key
            else:
                digest = hashlib.sha256("|".join(sorted(i.idem_key for i in items)).encode()).hexdigest()[:40]
                idem = f"oc-batch-{digest}"
                # remembered, so a retry after a crash re-sends exactly this batch under the same key
                batch_keys.extend({"_id": i.id, "batch_key": g[0]["batch_key"] or f"b{g[0]['id']}"} for i in items)
            out.append((receiver, Delivery(items, idem, g[0]["group_key"], checkpoint=self._checkpoint),
                        max(r["attempts"] for r in g) + 1, [r["created_at"] for r in g]))
        await conn.execute(update(N).where(N.c.id.in_(ids)).values(status=SENDING, lease_until=lease,
                                                                   lease_owner=self.owner,
                                                                   attempts=N.c.attempts + 1))
        self.held.update(ids)
        if batch_keys:
            await conn.execute(update(N).where(N.c.id == bindparam("_id")).values(batch_key=bindparam("batch_key")),
                               batch_keys)
        return out

    async def _candidates(self, conn: AsyncConnection, receiver: str, now: datetime, expired_leases: bool,
                          limit: int, probe: bool = False) -> list[Any]:
        """Due rows, oldest first, that are the first unsettled row of their (alert, receiver).

        The ordering check is a second, index-driven query rather than a correlated NOT EXISTS: query
        planners with stale statistics turned that anti-join quadratic. A group's rows share their
        due_at (the flush), so a window of ``limit`` rows holds whole groups; if blocked rows fill a
        window, the next one is looked at.
        """
        out: list[Any] = []
        after: tuple[datetime, int] | None = None
        for _ in range(5):
            stmt = (select(N.c.id, N.c.alert_id, N.c.transition, N.c.idem_key, N.c.group_key, N.c.batch_key,
                           N.c.attempts, N.c.created_at, N.c.due_at)
                    .where(N.c.receiver == receiver, due_clause(now, expired_leases=expired_leases, probe=probe))
                    .order_by(N.c.due_at, N.c.id).limit(limit))
            if expired_leases:  # never our own: a row we hold is alive even if a slow tick let its lease lapse
                stmt = stmt.where(or_(N.c.lease_owner.is_(None), N.c.lease_owner != self.owner))
            if after is not None:
                stmt = stmt.where(or_(N.c.due_at > after[0], and_(N.c.due_at == after[0], N.c.id > after[1])))
            rows = list((await conn.execute(stmt)).mappings())
            if not rows:
                break
            first: dict[int, int] = dict((await conn.execute(
                select(N.c.alert_id, func.min(N.c.id))
                .where(N.c.receiver == receiver, N.c.alert_id.in_(sorted({r["alert_id"] for r in rows})),
                       N.c.status.in_([PENDING, SENDING]))
                .group_by(N.c.alert_id))).all())
            out.extend(r for r in rows if first.get(r["alert_id"]) == r["id"])
            if len(out) >= limit // 2 or len(rows) < limit:
                break
            after = (rows[-1]["due_at"], rows[-1]["id"])
        return out[:limit]
