"""The self-monitor: OpsConductor's own failures become alerts in its own table.

Every ``selfmon_interval_s`` it looks at its own state — the event log's backlog, the
quarantine, the last rules/addon/notify reload, the delivery outbox (by SQL: the notify
internals may change), the trap listener, the database — and raises or clears self-alerts
(``source: opsconductor``) through :meth:`Pipeline.accept`, the normal path, so rules and
routes apply to them like to any device. The pure part is ``checks.py``; this module is the
I/O. docs/operations.md lists every self-alert and what raises and resolves it.

A database outage cannot be recorded while it lasts: it is logged meanwhile and raised once
the database is usable again (and resolved ``selfmon_db_alert_hold_s`` later).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.errors import Unavailable
from opsconductor.health.checks import SOURCE, Key, Observation, SelfAlert, clear_event, plan, self_alerts, stalled
from opsconductor.model.alert import OPEN_STATUSES
from opsconductor.store.alert_writer import ALERTS, EVENTS
from opsconductor.store.quarantine import quarantine_size
from opsconductor.store.safety_tables import IDEMPOTENCY

if TYPE_CHECKING:
    from opsconductor.runtime import Runtime

log = logging.getLogger(__name__)

PROBE_KEY = "opsconductor-selfmon-write-probe"


async def oldest_unprocessed(conn: AsyncConnection) -> datetime | None:
    """When the oldest waiting event arrived (the partial index makes this one row read)."""
    at = (await conn.execute(select(EVENTS.c.received_at).where(EVENTS.c.processed == False)  # noqa: E712
                             .order_by(EVENTS.c.id).limit(1))).scalar_one_or_none()
    return datetime.fromisoformat(at) if isinstance(at, str) else at


async def failing_receivers(conn: AsyncConnection, now: datetime, failing_s: float) -> dict[str, str]:
    """Receivers whose last finished delivery is dead, or that have retried one for ``failing_s``."""
    from opsconductor.notify.tables import DEAD, PENDING, SENDING, SENT, Notification

    n = Notification.__table__  # type: ignore[attr-defined]
    recent = now - timedelta(days=1)
    rows = (await conn.execute(
        select(n.c.receiver, n.c.status, func.max(n.c.id), func.min(n.c.created_at), func.max(n.c.last_error))
        .where(or_(and_(n.c.status.in_((SENT, DEAD)), n.c.created_at >= recent),
                   and_(n.c.status.in_((PENDING, SENDING)), n.c.attempts > 0)))
        .group_by(n.c.receiver, n.c.status))).all()
    by: dict[str, dict[str, Any]] = {}
    for receiver, status, max_id, min_created, last_error in rows:
        by.setdefault(receiver, {})[status] = (max_id, min_created, last_error)
    out: dict[str, str] = {}
    for receiver, st in by.items():
        dead, sent = st.get(DEAD), st.get(SENT)
        retrying = [v for k, v in st.items() if k in (PENDING, SENDING)]
        if dead is not None and (sent is None or dead[0] > sent[0]):
            out[receiver] = f"receiver {receiver}: its last delivery gave up (dead): {dead[2] or 'no error text'}"
            continue
        oldest = min((_aware(v[1]) for v in retrying), default=None)
        if oldest is not None and now - oldest > timedelta(seconds=failing_s):
            errors = "; ".join(sorted({str(v[2]) for v in retrying if v[2]}))[:500]
            out[receiver] = (f"receiver {receiver}: deliveries failing for more than {failing_s:g}s"
                             + (f": {errors}" if errors else ""))
    return out


def _aware(v: Any) -> datetime:
    d = datetime.fromisoformat(v) if isinstance(v, str) else v
    assert isinstance(d, datetime)
    return d if d.tzinfo else d.replace(tzinfo=UTC)


async def overdue_for_expiry(conn: AsyncConnection, before: datetime) -> int:
    """Open alerts whose expiry passed before ``before`` (housekeeping should have expired them)."""
    return int((await conn.execute(select(func.count()).select_from(ALERTS).where(
        ALERTS.c.status.in_([s.value for s in OPEN_STATUSES]), ALERTS.c.expires_at < before))).scalar_one())


async def open_self_alerts(conn: AsyncConnection) -> set[Key]:
    rows = await conn.execute(select(ALERTS.c.resource, ALERTS.c.event).where(
        ALERTS.c.source == SOURCE, ALERTS.c.status.in_([s.value for s in OPEN_STATUSES])))
    return {(r[0], r[1]) for r in rows}


async def write_probe(conn: AsyncConnection, now: datetime) -> None:
    """A write that needs new pages: after a write failure (disk full) a read alone proves nothing."""
    await conn.execute(insert(IDEMPOTENCY).values(key=PROBE_KEY, request_hash="-", event_ids=[], created_at=now))
    await conn.execute(delete(IDEMPOTENCY).where(IDEMPOTENCY.c.key == PROBE_KEY))


def component_state(rt: Runtime, obs: Observation) -> None:
    """Fill in the reload and listener state the other stages keep in memory."""
    s = rt.settings
    obs.rules_dir, obs.addons_dir, obs.notify_file = str(s.rules_dir), str(s.addons_dir), str(s.effective_notify_file)
    rules = rt.rules
    status = getattr(rules, "status", None)
    if status is not None and not status.ok:
        obs.rules_errors = list(status.errors) + list(status.test_failures) or ["rules reload failed"]
    obs.sources_errors = list(getattr(rt.sources, "errors", []) or [])
    obs.notify_error = getattr(rt.notify, "last_error", None)
    traps = rt.snmp_traps
    obs.trap_error = getattr(traps, "error", None)


class SelfMonitor:
    """Holds what it has raised; one :meth:`tick` per interval. Also the source of /readyz truths."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        self.sent: dict[Key, SelfAlert | None] | None = None  # None: not yet read; None values: found open
        self.stalled: str | None = None
        self._outage: tuple[str, float] | None = None  # (summary, monotonic time it ended)
        self._last_log = 0.0
        self._sent_at: dict[Key, float] = {}

    def not_ready(self) -> list[str]:
        """Reasons /readyz must answer 503 besides the database ping."""
        reasons = []
        if self.stalled:
            reasons.append(self.stalled)
        f = self.rt.db.faults
        if f.write_failed and f.error:
            reasons.append(f"the database refuses writes: {f.error}")
        rules = self.rt.rules
        status = getattr(rules, "status", None)
        if status is not None and not status.ok and getattr(rules, "last_good", None) is None:
            reasons.append("no rule set is live: the rules were refused at start-up: "
                           + "; ".join([*status.errors, *status.test_failures][:3]))
        traps = self.rt.snmp_traps
        if getattr(traps, "error", None):
            reasons.append(f"the SNMP trap listener is not bound: {traps.error}")  # type: ignore[union-attr]
        return reasons

    async def observe(self) -> Observation:
        s = self.rt.settings
        obs = Observation(now=self.rt.pipeline.clock())
        await self.rt.db.bounded(s.db_timeout_s, self._read(obs))
        if self.rt.db.faults.write_failed:
            await self.rt.db.bounded(s.db_timeout_s, self._probe(obs.now))
        component_state(self.rt, obs)
        return obs

    async def _read(self, obs: Observation) -> None:
        async with self.rt.db.read() as conn:
            obs.oldest_unprocessed = await oldest_unprocessed(conn)
            obs.quarantined, _ = await quarantine_size(conn)
            obs.receivers_failing = await failing_receivers(conn, obs.now, self.rt.settings.selfmon_receiver_failing_s)
            obs.expiry_grace_s = self.rt.settings.selfmon_stall_s + 3 * self.rt.settings.housekeeping_interval_s
            obs.overdue_expiry = await overdue_for_expiry(conn, obs.now - timedelta(seconds=obs.expiry_grace_s))
            if self.sent is None:
                self.sent = dict.fromkeys(await open_self_alerts(conn))

    async def _probe(self, now: datetime) -> None:
        async with self.rt.db.write() as conn:
            await write_probe(conn, now)
        self.rt.db.faults.wrote()

    async def tick(self) -> None:
        s = self.rt.settings
        faults = self.rt.db.faults
        try:
            obs = await self.observe()
        except Unavailable as exc:
            self.stalled = None  # the database check of /readyz says it
            if time.monotonic() - self._last_log > 60:
                self._last_log = time.monotonic()
                log.error("database unusable since %s: %s (a self-alert follows once it is usable again)",
                          faults.since, exc)
            return
        if faults.since is not None and time.monotonic() - faults.last_failure > s.selfmon_interval_s / 2:
            since, error = faults.end() or (obs.now, "")
            summary = (f"the database was unusable from {since.isoformat(timespec='seconds')} to "
                       f"{obs.now.isoformat(timespec='seconds')}: {error}").replace("+00:00", "Z")
            self._outage = (summary, time.monotonic())
            log.warning("%s", summary)
        if self._outage is not None:
            if time.monotonic() - self._outage[1] > s.selfmon_db_alert_hold_s:
                self._outage = None
            else:
                obs.db_outage = self._outage[0]
        self.stalled = stalled(obs, s.selfmon_stall_s)
        if not self.is_leader:
            # Of several server processes the leader raises the self-alerts (what it sees is the shared
            # database, the same files): two would raise and clear the same alerts in turn. Every
            # process still answers its own /readyz from what it sees.
            self.sent = None  # read again from the alert table if this process becomes the leader
            return
        await self.send(self_alerts(obs, stall_s=s.selfmon_stall_s))

    @property
    def is_leader(self) -> bool:
        sources = self.rt.sources
        return sources is None or sources.is_leader

    async def send(self, wanted: dict[Key, SelfAlert]) -> None:
        sent: dict[Key, SelfAlert | None] = self.sent if self.sent is not None else {}
        raise_, clear = plan(sent, wanted)
        # A fault that lasts is raised again now and then, so its alert never expires while it lasts.
        timeout = self.rt.settings.alert_timeout_s
        refresh = max(60.0, timeout / 4) if timeout > 0 else float("inf")
        raise_ += [a for k, a in wanted.items()
                   if a not in raise_ and time.monotonic() - self._sent_at.get(k, 0.0) > refresh]
        if not raise_ and not clear:
            return
        events = [a.as_event() for a in raise_] + [clear_event(k) for k in clear]
        await self.rt.pipeline.accept(events)  # Unavailable: nothing recorded as sent, tried next tick
        for a in raise_:
            if sent.get(a.key) != a:
                log.warning("self-alert %s/%s: %s", a.resource, a.event, a.summary)
            sent[a.key] = a
            self._sent_at[a.key] = time.monotonic()
        for k in clear:
            log.info("self-alert %s/%s resolved", *k)
            sent.pop(k, None)
        self.sent = sent

    async def run(self) -> None:
        while True:
            with contextlib.suppress(Unavailable):
                await self.tick()
            await asyncio.sleep(self.rt.settings.selfmon_interval_s)


def install(rt: Runtime) -> None:
    """Attach the self-monitor (``rt.selfmon``) and its loop."""
    mon = SelfMonitor(rt)
    rt.selfmon = mon

    async def start(runtime: Runtime) -> None:
        runtime.spawn(mon.run, "selfmon")

    rt.on_start(start)
