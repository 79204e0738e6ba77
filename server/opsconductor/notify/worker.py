"""The delivery worker: claims due outbox rows per receiver and delivers them.

Each receiver has its own concurrency limit and in-flight count, so a dead or hanging
receiver only ever occupies its own slots. Rows are claimed with a short lease in this worker's
name (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so several server processes share the work); the
worker renews the lease of what it holds every couple of seconds, so a process that dies loses its
rows to the others within ``LEASE_S`` + ``LEASE_CHECK_S``; on SQLite (its write transactions take the
database's write lock first, so two processes never claim the same row) the same with ``shared``
(``serve --workers N``), else, one process, at start.
For one (alert, receiver), a row is only claimed once every earlier row is settled, so
a ticket is created before it is commented on or resolved. A row's ``progress`` (what an earlier
attempt did or sent) goes to the receiver, which continues from there. On shutdown, deliveries
in flight get ``shutdown_grace_s`` to finish and be recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.notify.audit import attempt_rows
from opsconductor.notify.circuit import Circuit
from opsconductor.notify.claim import LEASE_S, Claims, due_clause
from opsconductor.notify.receivers.base import Delivery, Item, Result
from opsconductor.notify.repeat import anything_due, sweep
from opsconductor.notify.schedule import backoff
from opsconductor.notify.secrets import redact
from opsconductor.notify.service import NotifyService
from opsconductor.notify.tables import ATTEMPTS, DEAD, GROUPS, NOTIFICATIONS, PENDING, SENDING, SENT, STATE
from opsconductor.store.db import Database

log = logging.getLogger(__name__)

PREFETCH = 4  # deliveries claimed per slot: fewer, larger claims; the queue is per receiver
HEARTBEAT_S = 2.0
LEASE_CHECK_S = 2.0  # how often expired leases (a dead process's rows) are looked for
N = NOTIFICATIONS


@dataclass
class _Done:
    receiver: str
    delivery: Delivery
    result: Result
    attempts: int
    created: list[datetime]
    seconds: float = 0.0


class Worker(Claims):
    def __init__(self, db: Database, service: NotifyService, clock: Callable[[], datetime], *,
                 poll_s: float = 0.05, retry_base_s: float = 1.0, retry_cap_s: float = 300.0,
                 retention_s: float = 30 * 86_400.0, rng: random.Random | None = None,
                 shutdown_grace_s: float = 10.0, probe_s: float = 3.0, shared: bool | None = None):
        self.db = db
        # Other server processes may deliver from the same outbox (PostgreSQL; SQLite with several workers):
        # leases are renewed and expired ones taken over. Alone (SQLite, one process): reset at start.
        self.shared = (not db.is_sqlite) if shared is None else shared
        self.service = service
        self.clock = clock
        self.poll_s = poll_s
        self.retry_base_s = retry_base_s
        self.retry_cap_s = retry_cap_s
        self.rng = rng or random.Random()
        self.retention_s = retention_s
        self._last_prune = 0.0
        self.inflight: dict[str, int] = defaultdict(int)
        # per-receiver queues of claimed (leased) deliveries waiting for a free slot
        self.queues: dict[str, deque[tuple[Delivery, int, list[datetime]]]] = defaultdict(deque)
        self._client: httpx.AsyncClient | None = None
        self._done: list[_Done] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_depth = 0.0
        self._last_repeat = 0.0
        self._last_lease_check = 0.0
        self.lease_check_s = LEASE_CHECK_S
        self.repeat_every_s = 1.0
        self.owner = uuid.uuid4().hex[:16]  # this worker's name on the rows it leases
        self.held: set[int] = set()  # ids of rows leased by this worker (queued or in flight)
        self._last_heartbeat = 0.0
        self.shutdown_grace_s = shutdown_grace_s
        self.probe_s = probe_s
        self.circuits: dict[str, Circuit] = {}
        self._stopping = False

    def circuit(self, receiver: str) -> Circuit:
        c = self.circuits.get(receiver)
        if c is None:
            c = self.circuits[receiver] = Circuit(probe_s=self.probe_s)
        return c

    async def run(self) -> None:
        """The worker loop (spawned on the runtime); cancelled on shutdown."""
        if not self.shared:
            # One process owns the database: whatever was in flight died with the last process.
            async with self.db.write() as conn:
                await conn.execute(update(N).where(N.c.status == SENDING).values(status=PENDING, lease_until=None,
                                                                                 lease_owner=None))
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
        async with httpx.AsyncClient(limits=limits, follow_redirects=False) as client:
            self._client = client
            try:
                while True:
                    worked = await self.tick(client)
                    if not worked:
                        self.service.wake_event.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self.service.wake_event.wait(), timeout=self.poll_s)
            finally:
                await self._shutdown()

    async def _shutdown(self) -> None:
        """Let deliveries in flight finish (bounded), record them, hand back what never started."""
        self._stopping = True
        running = list(self._tasks)
        if running:
            log.info("notify: finishing %d deliveries in flight (up to %gs)", len(running), self.shutdown_grace_s)
            _, late = await asyncio.wait(running, timeout=self.shutdown_grace_s)
            for t in late:
                t.cancel()
            for t in late:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        done, self._done = self._done, []
        if done:
            with contextlib.suppress(Exception):
                async with self.db.write() as conn:
                    await self._record(conn, done, self.clock())
        await self._release_queued()

    async def _release_queued(self) -> None:
        """On shutdown, hand claimed-but-unstarted rows back (best effort; leases cover a crash)."""
        ids = [i.id for q in self.queues.values() for d, _, _ in q for i in d.items]
        self.queues.clear()
        if ids:
            with contextlib.suppress(Exception):
                async with self.db.write() as conn:
                    await conn.execute(update(N).where(N.c.id.in_(ids), N.c.status == SENDING,
                                                       N.c.lease_owner == self.owner)
                                       .values(status=PENDING, lease_until=None, lease_owner=None,
                                               attempts=N.c.attempts - 1))

    async def tick(self, client: httpx.AsyncClient) -> bool:
        """Record finished deliveries, claim due rows for receivers with free slots, start them."""
        now = self.clock()
        if now.timestamp() - self._last_repeat >= self.repeat_every_s:
            self._last_repeat = now.timestamp()
            self.service.reload_if_changed()
            if now.timestamp() - self._last_prune >= 60:
                self._last_prune = now.timestamp()
                await self._prune(now)
            async with self.db.read() as conn:
                repeat = await anything_due(conn, now)
            if repeat:
                async with self.db.write() as conn:
                    await sweep(conn, self.service.config, self.service.enabled, now)
        if self.shared and now.timestamp() - self._last_heartbeat >= HEARTBEAT_S:
            # (alone: nobody takes leases over, no renewal needed)
            self._last_heartbeat = now.timestamp()
            await self._heartbeat(now)
        done, self._done = self._done, []
        free: dict[str, int] = {}
        probes: list[str] = []
        t = now.timestamp()
        for n, sender in self.service.senders.items():
            c = self.circuits.get(n)
            if c is not None and c.open:  # down: one probe at a time, every probe_s
                if c.may_probe(t) and not self.inflight[n] and not self.queues[n]:
                    c.probing(t)
                    probes.append(n)
                continue
            want = sender.cfg.concurrency * PREFETCH - len(self.queues[n]) - self.inflight[n]
            if want >= sender.cfg.concurrency:
                free[n] = want
        # Alone: nobody else's leases to take over (its own were reset at start)
        leases = self.shared and t - self._last_lease_check >= self.lease_check_s
        if leases:
            self._last_lease_check = t
        if not done and free and not leases and not await self._anything_due(now, list(free)):
            free = {}
        if not done and not free and not probes:
            await self._maybe_depth(now)
            return False
        claimed: list[tuple[str, Delivery, int, list[datetime]]] = []
        async with self.db.write() as conn:
            if done:
                await self._record(conn, done, now)
            for name, slots in free.items():
                got = await self._claim(conn, name, slots, now, expired_leases=False)
                if leases and len(got) < slots:
                    got += await self._claim(conn, name, slots - len(got), now, expired_leases=True)
                claimed.extend(got)
            for name in probes:
                claimed.extend(await self._claim(conn, name, 1, now, expired_leases=False, probe=True))
        for name, delivery, attempts, created in claimed:
            self.queues[name].append((delivery, attempts, created))
        for name in {n for n, _, _, _ in claimed}:
            self._pump(client, name)
        await self._maybe_depth(now)
        return bool(done or claimed)

    async def _heartbeat(self, now: datetime) -> None:
        """Renew the lease of the rows this worker holds, so nobody takes over a live delivery.

        Only leases in their second half are rewritten: most deliveries end long before, and rewriting
        (and row-locking) every held row every few seconds would compete with recording them."""
        ids = sorted(self.held)
        if not ids:
            return
        soon = now + timedelta(seconds=LEASE_S / 2)
        async with self.db.write() as conn:
            for i in range(0, len(ids), 1000):
                await conn.execute(update(N).where(N.c.id.in_(ids[i : i + 1000]), N.c.status == SENDING,
                                                   N.c.lease_owner == self.owner, N.c.lease_until < soon)
                                   .values(lease_until=now + timedelta(seconds=LEASE_S)))

    async def _checkpoint(self, item: Item) -> None:
        """Durably record a delivery's progress before a step that must not be repeated blindly."""
        async with self.db.write() as conn:
            await conn.execute(update(N).where(N.c.id == item.id, N.c.status == SENDING,
                                               N.c.lease_owner == self.owner).values(progress=dict(item.progress)))

    async def _prune(self, now: datetime) -> None:
        """Forget settled notifications older than the retention (bounded work per call)."""
        old = now - timedelta(seconds=self.retention_s)
        settled = N.c.status.in_([SENT, DEAD]) & (N.c.created_at < old)
        async with self.db.read() as conn:
            ids = list((await conn.execute(select(N.c.id).where(settled).limit(5000))).scalars())
        async with self.db.write() as conn:
            if ids:
                await conn.execute(N.delete().where(N.c.id.in_(ids), settled))
            await conn.execute(ATTEMPTS.delete().where(ATTEMPTS.c.id.in_(
                select(ATTEMPTS.c.id).where(ATTEMPTS.c.at < old).limit(5000).scalar_subquery())))

    async def _anything_due(self, now: datetime, receivers: list[str]) -> bool:
        async with self.db.read() as conn:
            row = await conn.execute(select(N.c.id).where(due_clause(now, expired_leases=False),
                                                          N.c.receiver.in_(receivers)).limit(1))
            return row.first() is not None

    async def _maybe_depth(self, now: datetime) -> None:
        t = now.timestamp()
        if t - self._last_depth < 2.0:
            return
        self._last_depth = t
        async with self.db.read() as conn:
            rows = await conn.execute(select(N.c.receiver, func.count()).where(N.c.status.in_([PENDING, SENDING]))
                                      .group_by(N.c.receiver))
            depth: dict[str, int] = {r[0]: int(r[1]) for r in rows.all()}
        for name in {*self.service.config.receivers, *depth}:
            self.service.metrics.queue_depth.labels(receiver=name).set(depth.get(name, 0))

    def _pump(self, client: httpx.AsyncClient, receiver: str) -> None:
        """Start queued deliveries of a receiver while it has free slots."""
        sender = self.service.senders.get(receiver)
        queue = self.queues[receiver]
        while (sender is not None and queue and self.inflight[receiver] < sender.cfg.concurrency
               and not self._stopping):
            delivery, attempts, created = queue.popleft()
            self.inflight[receiver] += 1
            task = asyncio.create_task(self._deliver(client, receiver, delivery, attempts, created))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, client: httpx.AsyncClient, receiver: str, delivery: Delivery, attempts: int,
                       created: list[datetime]) -> None:
        sender = self.service.senders[receiver]
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            result = await sender.send(client, delivery)
        except Exception as exc:  # a receiver bug must not kill the worker; the row is retried
            # no traceback: its frames hold URLs and tokens; the redacted message is enough to act on
            msg = redact(f"{type(exc).__name__}: {exc}", sender.secret_values())[:500]
            log.error("receiver %s failed unexpectedly: %s", receiver, msg)
            result = Result(False, error=f"internal error: {msg}")
        finally:
            self.inflight[receiver] -= 1
        took = loop.time() - start
        self.service.metrics.latency.labels(receiver=receiver).observe(took)
        self._done.append(_Done(receiver, delivery, result, attempts, created, took))
        self.service.wake_event.set()
        self._pump(client, receiver)

    async def _record(self, conn: AsyncConnection, done: list[_Done], now: datetime) -> None:
        sent: list[dict[str, Any]] = []
        retry: list[dict[str, Any]] = []
        dead: list[dict[str, Any]] = []
        groups: set[str] = set()
        drain: set[str] = set()
        progress: list[dict[str, Any]] = []
        audit: list[dict[str, Any]] = []
        for d in done:
            self.held.difference_update(i.id for i in d.delivery.items)
            if self.circuit(d.receiver).record(d.result, now.timestamp()):
                drain.add(d.receiver)
            audit.extend(attempt_rows(d.receiver, d.delivery, d.result, d.attempts, d.created, d.seconds, now,
                                      self.service.senders.get(d.receiver)))
            progress.extend({"_id": i.id, "progress": dict(i.progress)} for i in d.delivery.items if i.progress)
            m = self.service.metrics
            sender = self.service.senders.get(d.receiver)
            max_age = sender.cfg.max_age if sender else 0.0
            r = d.result
            ids = [i.id for i in d.delivery.items]
            err = (r.error or "")[:2000] or None
            if r.ok:
                sent.extend({"_id": i, "code": r.status_code} for i in ids)
                groups.update(i.group_key or d.delivery.group_key for i in d.delivery.items)
                m.sent.labels(receiver=d.receiver).inc(len(ids))
                for alert_id, ref in r.ext_ref.items():
                    await self._save_ref(conn, alert_id, d.receiver, ref, now)
                continue
            too_old = any((now - c).total_seconds() >= max_age for c in d.created)
            if r.retry and not too_old:
                delay = backoff(d.attempts, base=self.retry_base_s, cap=self.retry_cap_s, rng=self.rng,
                                retry_after=r.retry_after)
                retry.extend({"_id": i, "due": now + timedelta(seconds=delay), "err": err, "code": r.status_code}
                             for i in ids)
                m.retried.labels(receiver=d.receiver).inc(len(ids))
            else:
                if too_old and r.retry:
                    err = f"gave up after max_age: {err}"
                dead.extend({"_id": i, "err": err, "code": r.status_code} for i in ids)
                m.failed.labels(receiver=d.receiver).inc(len(ids))
                log.warning("notification(s) %s to %s dead: %s", ids, d.receiver, err)
            for alert_id, ref in r.ext_ref.items():
                await self._save_ref(conn, alert_id, d.receiver, ref, now)
        mine = (N.c.status == SENDING) & (N.c.lease_owner == self.owner)
        if progress:  # before the status changes below: the same "mine" condition must still hold
            await conn.execute(update(N).where(N.c.id == bindparam("_id"), mine).values(
                progress=bindparam("progress")), progress)
        if audit:
            await conn.execute(ATTEMPTS.insert(), audit)
        if sent:
            await conn.execute(update(N).where(N.c.id == bindparam("_id"), mine).values(
                status=SENT, sent_at=now, lease_until=None, lease_owner=None, last_error=None,
                last_status_code=bindparam("code")), sent)
        if retry:
            await conn.execute(update(N).where(N.c.id == bindparam("_id"), mine).values(
                status=PENDING, due_at=bindparam("due"), lease_until=None, lease_owner=None,
                last_error=bindparam("err"), last_status_code=bindparam("code")), retry)
        if dead:
            await conn.execute(update(N).where(N.c.id == bindparam("_id"), mine).values(
                status=DEAD, lease_until=None, lease_owner=None, last_error=bindparam("err"),
                last_status_code=bindparam("code")), dead)
        if groups:
            await conn.execute(update(GROUPS).where(GROUPS.c.key == bindparam("_k")).values(
                last_flush_at=now, next_flush_at=None), [{"_k": k} for k in sorted(groups)])
        for receiver in sorted(drain):  # it answers again: its backed-off rows are due now
            log.info("notify receiver %s answers again: draining its backlog", receiver)
            await conn.execute(update(N).where(N.c.receiver == receiver, N.c.status == PENDING, N.c.attempts > 0,
                                               N.c.due_at > now).values(due_at=now))

    async def _save_ref(self, conn: AsyncConnection, alert_id: int, receiver: str, ref: dict[str, Any],
                        now: datetime) -> None:
        where = (STATE.c.alert_id == alert_id) & (STATE.c.receiver == receiver)
        current = (await conn.execute(select(STATE.c.ext_ref).where(where))).scalar_one_or_none()
        await conn.execute(update(STATE).where(where).values(ext_ref={**(current or {}), **ref}, updated_at=now))
