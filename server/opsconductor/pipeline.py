"""The one module that knows the stage order.

    sources -> normalize -> correlate -> store -> suppression re-decisions -> notify

:func:`build_pipeline` composes the stages from constructor arguments (like
Alertmanager's ``PipelineBuilder``): a correlator, a suppression stage, the alert
store and the transition sink it hands changes to. Every producer (REST clients,
the poller, webhooks, the SNMP trap process, correlation parents derived from a
batch) enters through one accept path, :func:`~opsconductor.store.event_log.accept_in`,
which makes events durable in the event log. The processor then takes the log in
arrival order, batch by batch, and in ONE transaction per batch (holding the store's
processing lock): correlate (decisions, derived events accepted) -> store (state
machine, alert table, history, processed markers) -> suppression (alerts the batch's
changes inhibit or release, decided again) -> notify (outbox rows, via the sink). A
crash anywhere re-runs the batch from the log; nothing is counted twice because the
processed markers commit with the alert changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.errors import Unavailable
from opsconductor.metrics import Metrics
from opsconductor.model.alert import Action, Outcome
from opsconductor.model.decision import AcceptedEvent, Decided, Decision, default_fingerprint
from opsconductor.model.event import NormalizedEvent, Severity
from opsconductor.model.lifecycle import Row
from opsconductor.normalize.validate import stamp_times
from opsconductor.store.alert_queries import due_for_expiry
from opsconductor.store.alert_store import AlertStore, utcnow
from opsconductor.store.alert_writer import EventResult, TransitionSink, apply_action
from opsconductor.store.db import Database
from opsconductor.store.event_log import accept_in, fetch_unprocessed, in_memory, results_for
from opsconductor.store.partitions import CrossPartition
from opsconductor.store.quarantine import Isolator

log = logging.getLogger(__name__)


STATS_MIN_GROWTH = 2_000
"""New alerts before the first planner-statistics refresh."""

GROUP_COMMIT_MAX = 20_000
"""Most events written by one intake transaction."""

HANDOFF_MAX = 100_000
"""Most accepted events held in memory for the processor; past it (a long backlog) they are
read back from the log, as after a crash."""

BUSY_RETRY_S = 0.01
"""How soon a processor looks again when every partition with work is held by another."""

ELSEWHERE_POLL_S = 0.05
"""How often outcomes of events another process processed are read for waiting requests."""

LINGER_BELOW = 50
"""A batch smaller than this is followed by the linger (``linger_s``) before the next."""

RECENT_RESULTS = 50_000
"""Results kept for ``wait=true`` requests that ask after their events were processed."""


InTxn = Callable[[AsyncConnection, list[int]], Awaitable[None]]
"""Work done in the transaction that stores a request's events, given their ids."""


class Correlator(Protocol):
    """The correlate stage. The spine ships :class:`DefaultCorrelator`; the rules engine
    (``correlate/correlator.py``) replaces it."""

    @property
    def version(self) -> str: ...

    async def decide(self, conn: AsyncConnection, batch: Sequence[AcceptedEvent]) -> Decided:
        """Decide a batch inside the pipeline's transaction (state may be read and written)."""
        ...


class DefaultCorrelator:
    """No rules: fingerprint (resource, component, event), severity as sent (default warning)."""

    version = "default"

    async def decide(self, conn: AsyncConnection, batch: Sequence[AcceptedEvent]) -> Decided:
        return Decided([
            Decision(event_id=a.id, event=a.event, fingerprint=default_fingerprint(a.event),
                     severity=a.event.severity or Severity.warning,
                     trace=({"stage": "default", "decided": "fingerprint=(resource,component,event)"},))
            for a in batch])


class Suppression(Protocol):
    """The suppression stage: decides again the open alerts that a batch's changes affect
    (an inhibiting alert that arrived or resolved, a correlation parent), in the batch's
    transaction. The rules engine provides it (``correlate/redecide.py``)."""

    async def mark(self, conn: AsyncConnection) -> int:
        """Where the alert history ends before the batch is applied."""
        ...

    async def after_batch(self, conn: AsyncConnection, mark: int, now: datetime, sink: TransitionSink) -> int:
        """Re-decide the alerts that the history written after ``mark`` affects; returns how many changed."""
        ...


class NoSuppression:
    """No rules engine: nothing to decide again."""

    async def mark(self, conn: AsyncConnection) -> int:
        return 0

    async def after_batch(self, conn: AsyncConnection, mark: int, now: datetime, sink: TransitionSink) -> int:
        return 0


def build_pipeline(
    db: Database,
    *,
    metrics: Metrics,
    correlator: Correlator | None = None,
    suppression: Suppression | None = None,
    store: AlertStore | None = None,
    sink: TransitionSink | None = None,
    default_timeout: int = 86_400,
    batch_size: int = 1_000,
    max_future_skew_s: float = 86_400.0,
    linger_s: float = 0.0,
    clock: Callable[[], datetime] = utcnow,
) -> Pipeline:
    """Compose the stages: correlator -> store (with the sink) -> suppression, in this order.

    Give either ``store`` or the parts it is built from (``sink``, ``default_timeout``, ``clock``)."""
    if store is None:
        store = AlertStore(db, sink=sink, default_timeout=default_timeout, clock=clock)
    elif store.db is not db or sink is not None:
        raise ValueError("a given store brings its own database and sink")
    return Pipeline(store, metrics=metrics, correlator=correlator or DefaultCorrelator(),
                    suppression=suppression or NoSuppression(), batch_size=batch_size,
                    max_future_skew_s=max_future_skew_s, linger_s=linger_s)


class Pipeline:
    """Accepts normalized events and drives them through correlate -> store -> suppression -> notify."""

    def __init__(self, store: AlertStore, *, metrics: Metrics, correlator: Correlator, suppression: Suppression,
                 batch_size: int = 1_000, max_future_skew_s: float = 86_400.0, linger_s: float = 0.0):
        self.store = store
        self.db = store.db
        self.metrics = metrics
        self.correlator = correlator
        self.suppression = suppression
        self.batch_size = batch_size
        self.max_future_skew_s = max_future_skew_s
        self.isolator = Isolator()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._intake: asyncio.Queue[tuple[Sequence[NormalizedEvent], asyncio.Future[list[int]]]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._in_txn: dict[asyncio.Future[list[int]], InTxn] = {}
        self._derived: list[NormalizedEvent] = []  # correlation parents the current batch accepted
        self._derived_ids: list[int] = []
        self._derived_at = utcnow()
        self._created_since_stats = 0
        self._rows_at_stats = 0
        # The in-memory hand-off: events this process wrote to the log, by id, so the processor
        # needn't read and rebuild them; the log stays the durability point and recovery source.
        self._handoff: dict[int, AcceptedEvent] = {}
        # wait=true: the processor's results, answered to the waiting requests as batches commit.
        self._recent: dict[int, EventResult] = {}
        self._waiting: dict[int, _Wait] = {}
        self._elsewhere: asyncio.Task[None] | None = None
        # PostgreSQL: processors in several processes and nodes, each on its partitions.
        self.partitioned = not self.db.is_sqlite
        # Whether other processes may process what this one accepted (PostgreSQL, or several
        # server workers): only then does a reader look for their results (_watch_elsewhere).
        self.shared = self.partitioned
        self.linger_s = linger_s

    @property
    def clock(self) -> Callable[[], datetime]:
        """The time every stage uses (one clock: tests move it)."""
        return self.store.clock

    @clock.setter
    def clock(self, fn: Callable[[], datetime]) -> None:
        self.store.clock.fn = fn

    @property
    def sink(self) -> TransitionSink:
        return self.store.sink

    @property
    def default_timeout(self) -> int:
        return self.store.default_timeout

    # -- sources -> event log ------------------------------------------------------------
    async def accept(self, events: Sequence[NormalizedEvent], *, in_txn: InTxn | None = None) -> list[int]:
        """Store events durably in the event log; returns their ids. Processing follows.
        ``in_txn(conn, ids)`` runs inside the transaction that stores them (an idempotency key).

        While the pipeline runs, concurrent callers share one transaction (group commit):
        fifty single-event requests cost one commit, not fifty. An impossible ``occurred_at``
        (a sender's broken clock) becomes the receive time, the original kept in a label.
        """
        events = stamp_times(events, self.clock(), self.max_future_skew_s)
        if self._writer is None:
            return await self._append([events], [in_txn])
        fut: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        if in_txn is not None:
            self._in_txn[fut] = in_txn
        self._intake.put_nowait((events, fut))
        return await fut

    async def _append(self, groups: Sequence[Sequence[NormalizedEvent]], hooks: Sequence[InTxn | None] = ()
                      ) -> list[int]:
        flat = [e for g in groups for e in g]
        # A database that does not answer: give up (roll back, store nothing) and answer 503 within
        # ~timeout_s, rather than hang and maybe commit after the client gave up and retried.
        limit = self.db.timeout_s * (1 + len(flat) // 5_000)
        now = self.clock()
        ids = await self.db.bounded(limit, self._append_txn(flat, groups, hooks, now), "the database (event intake)")
        self._hand_off(ids, flat, now)  # committed: the log has them
        self._accepted(flat)
        return ids

    def _hand_off(self, ids: Sequence[int], events: Sequence[NormalizedEvent], now: datetime) -> None:
        if len(self._handoff) + len(ids) > HANDOFF_MAX:
            return
        for i, e in zip(ids, events, strict=True):
            self._handoff[i] = AcceptedEvent(i, in_memory(e, now), now)

    def _accepted(self, events: Sequence[NormalizedEvent]) -> None:
        for source, n in Counter(e.source or "api" for e in events).items():  # one metric update per source
            self.metrics.events_received.labels(source=source).inc(n)
        self._wake.set()

    async def _append_txn(self, flat: Sequence[NormalizedEvent], groups: Sequence[Sequence[NormalizedEvent]],
                          hooks: Sequence[InTxn | None], now: datetime) -> list[int]:
        async with self.db.write() as conn:
            ids = await accept_in(conn, flat, now)
            pos = 0
            for group, hook in zip(groups, hooks, strict=False):
                if hook is not None:
                    await hook(conn, ids[pos : pos + len(group)])
                pos += len(group)
        self.db.faults.wrote()
        return ids

    async def _group_commit(self) -> None:
        while True:
            items = [await self._intake.get()]
            size = len(items[0][0])
            while not self._intake.empty() and size < GROUP_COMMIT_MAX:
                items.append(self._intake.get_nowait())
                size += len(items[-1][0])
            hooks = {fut: self._in_txn.pop(fut, None) for _, fut in items}
            live = [(evs, fut) for evs, fut in items if not fut.done()]  # the client may have gone
            try:
                ids = await self._append([evs for evs, _ in live], [hooks[fut] for _, fut in live])
            except Exception as exc:
                for _, fut in live:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            pos = 0
            for evs, fut in live:
                if not fut.done():
                    fut.set_result(ids[pos : pos + len(evs)])
                pos += len(evs)

    # -- event log -> correlate -> store -> notify -----------------------------------------
    async def process_once(self) -> int:
        """Process one batch of the oldest unprocessed events; returns how many.

        On PostgreSQL a batch is one or more partitions' oldest events under their locks (several
        processors at once); a batch that turns out to touch what other partitions share is run
        again under the exclusive lock (``store/partitions.py``). A batch that fails (not because
        the database is away) is bisected until the failing events are found; those are
        quarantined and the rest processed (``store/quarantine.py``)."""
        batch: list[AcceptedEvent] = []
        parts: frozenset[int] | None = None
        results: list[EventResult] = []
        try:
            done = False
            if self.partitioned:
                try:
                    async with self.store.partition_transaction(self.batch_size) as (conn, scope):
                        if scope is None:
                            return 0
                        parts = scope.parts
                        batch = await self._fetch(conn, parts)
                        if not batch:
                            return 0
                        results = await self._decide_and_apply(conn, batch)
                    done = True
                except (CrossPartition, IntegrityError) as exc:
                    # IntegrityError: an open fingerprint another partition created meanwhile.
                    if parts is None:
                        raise
                    log.debug("batch of partitions %s runs exclusively: %s", sorted(parts), exc)
                    self.metrics.exclusive_batches.inc()
            if not done:
                async with self.store.transaction() as conn:
                    batch = await self._fetch(conn, parts)
                    if not batch:
                        return 0
                    results = await self._decide_and_apply(conn, batch)
            if self._derived:  # committed: correlation parents go to the processor in memory too
                self._hand_off(self._derived_ids, self._derived, self._derived_at)
                self._accepted(self._derived)
        except Unavailable:
            raise
        except Exception as exc:
            if not batch:
                raise
            results = await self.isolator.isolate(self.store.transaction, self._decide_and_apply, batch, exc,
                                                  self.clock, self.metrics.events_quarantined.inc)
            # Parents derived in the isolating transactions are read back from the log (some rolled back).
        for a in batch:
            self._handoff.pop(a.id, None)
        self._answer(results)
        now = self.clock()
        for a in batch:
            self.metrics.processing_lag.observe(max(0.0, (now - a.received_at).total_seconds()))
        created = 0
        for outcome, n in Counter(r.outcome for r in results).items():
            self.metrics.events_processed.labels(outcome=outcome.value).inc(n)
            created += n if outcome in (Outcome.created, Outcome.suppressed) else 0
        await self._track_growth(created)
        return len(batch)

    async def _fetch(self, conn: AsyncConnection, parts: frozenset[int] | None) -> list[AcceptedEvent]:
        self._derived.clear()
        self._derived_ids.clear()
        return await fetch_unprocessed(conn, self.batch_size, self._handoff, parts)

    def _answer(self, results: Sequence[EventResult]) -> None:
        """Hand a committed batch's results to the requests waiting for them."""
        for r in results:
            self._recent[r.event_id] = r
            if (w := self._waiting.pop(r.event_id, None)) is not None:
                w.arrived(r)
        for _ in range(len(self._recent) - RECENT_RESULTS):
            del self._recent[next(iter(self._recent))]

    # -- operator actions and expiry: the same store, suppression and sink -------------------
    async def act(self, alert_ids: Sequence[int], action: Action, *, actor: str, text: str | None,
                  skip_conflicts: bool = False) -> list[Row]:
        """An operator action (or expiry) in one transaction; alerts it inhibited or released
        (say, a resolved inhibitor's targets) are decided again in the same transaction."""
        async with self.store.transaction() as conn:
            return await self._act_in(conn, alert_ids, action, actor=actor, text=text,
                                      skip_conflicts=skip_conflicts)

    async def _act_in(self, conn: AsyncConnection, alert_ids: Sequence[int], action: Action, *, actor: str,
                      text: str | None, skip_conflicts: bool) -> list[Row]:
        now = self.clock()
        mark = await self.suppression.mark(conn)
        rows = await apply_action(conn, alert_ids, action, actor=actor, now=now, text=text, sink=self.store.sink,
                                  skip_conflicts=skip_conflicts)
        await self.suppression.after_batch(conn, mark, now, self.store.sink)
        return rows

    async def expire_due(self) -> int:
        """Expire every open alert whose last_seen + timeout has passed; returns how many."""
        total = 0
        while True:
            async with self.store.transaction() as conn:  # chosen under the lock: no event refreshes them meanwhile
                ids = await due_for_expiry(conn, self.clock())
                if not ids:
                    return total
                await self._act_in(conn, ids, Action.expire, actor="housekeeping",
                                   text="not seen within its timeout", skip_conflicts=True)
            total += len(ids)

    async def _decide_and_apply(self, conn: AsyncConnection, batch: Sequence[AcceptedEvent]) -> list[EventResult]:
        """correlate -> store -> suppression for one batch, inside its transaction."""
        decided = await self.correlator.decide(conn, batch)  # correlate
        self._derived_at = self.clock()
        if decided.derived:  # correlation parents: accepted like every other event
            self._derived_ids += await accept_in(conn, decided.derived, self._derived_at)
            self._derived.extend(decided.derived)
        now = self.clock()
        mark = await self.suppression.mark(conn)
        results = await self.store.apply_decisions(conn, decided.decisions, now, decided.open_rows)  # store
        after_apply = getattr(self.correlator, "after_apply", None)  # incident links (rules engine)
        if after_apply is not None and (more := await after_apply(conn, decided.decisions)):
            self._derived_ids += await accept_in(conn, more, self._derived_at)  # parent severity follows children
            self._derived.extend(more)
        await self.suppression.after_batch(conn, mark, now, self.store.sink)  # suppression re-decisions
        return results

    def wake(self) -> None:
        """Process soon: events were appended to the log by someone else (the trap receiver process)."""
        self._wake.set()

    async def _track_growth(self, created: int) -> None:
        # After the alert table doubles (say, a first bulk load) the planners' statistics are
        # stale enough to pick full scans: refresh them now rather than at the next housekeeping.
        self._created_since_stats += created
        if self._created_since_stats > max(STATS_MIN_GROWTH, self._rows_at_stats):
            self._rows_at_stats += self._created_since_stats
            self._created_since_stats = 0
            with contextlib.suppress(Unavailable):
                await self.db.analyze()

    async def drain(self) -> int:
        """Process until the log has no unprocessed events (tests, replay, shutdown)."""
        total = 0
        while True:
            n = await self.process_once()
            total += n
            if not n:
                if not (self.partitioned and self.store.busy_elsewhere):
                    return total
                await asyncio.sleep(BUSY_RETRY_S)  # the rest is in partitions another processor holds

    async def _run(self) -> None:
        delay = 0.0
        while True:
            try:
                n = await self.process_once()
                delay = 0.0
                if n:
                    # A batch has a fixed cost (its transaction, ~30 statements) that a few events
                    # cannot carry: after a small one, let more arrive (single-event senders) -
                    # unless it left busy partitions for the next (PostgreSQL: half of them per batch).
                    if n < LINGER_BELOW and self.linger_s and not (self.partitioned and self.store.left_for_next):
                        await asyncio.sleep(self.linger_s)
                    continue
            except Unavailable as exc:
                self.metrics.processing_errors.inc()
                delay = min(max(delay * 2, 0.2), 5.0)
                log.warning("event processing paused, database unavailable: %s (retry in %.1fs)", exc, delay)
            except Exception:
                self.metrics.processing_errors.inc()
                delay = min(max(delay * 2, 0.2), 5.0)
                log.exception("event processing failed; the batch stays in the log and is retried")
            if self.store.busy_elsewhere:  # work waits in partitions other processors hold: look again soon
                await asyncio.sleep(BUSY_RETRY_S)
                continue
            self._wake.clear()
            # Wake on new events, or poll: other server processes may have accepted some.
            await _wait_event(self._wake, delay or 1.0)

    def start(self) -> None:
        """Start the background processor (also processes whatever a crash left in the log)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="opsconductor-processor")
        if self._writer is None:
            self._writer = asyncio.create_task(self._group_commit(), name="opsconductor-intake")
        if self._elsewhere is None and self.shared:
            self._elsewhere = asyncio.create_task(self._watch_elsewhere(), name="opsconductor-elsewhere")

    async def stop(self) -> None:
        """Stop processing; accepts still work (directly) after this."""
        if self._writer is not None:
            await _cancelled(self._writer)
            self._writer = None
            while not self._intake.empty():  # hand any queued accepts to the direct path
                evs, fut = self._intake.get_nowait()
                if not fut.done():
                    try:
                        fut.set_result(await self._append([evs], [self._in_txn.pop(fut, None)]))
                    except Exception as exc:
                        fut.set_exception(exc)
        for task in (self._task, self._elsewhere):
            if task is not None:
                await _cancelled(task)
        self._task = self._elsewhere = None

    async def wait_results(self, ids: Sequence[int], wait_s: float) -> dict[int, EventResult]:
        """Wait until the given events are processed (or timeout); returns the results known.

        Answered from this process's processor as its batches commit, and for events another
        process processed (several processors on PostgreSQL, or server workers) by
        :meth:`_watch_elsewhere`, which reads their outcomes from the log for every waiting request at once."""
        loop = asyncio.get_running_loop()
        w = _Wait(loop)
        for i in ids:
            if (r := self._recent.get(i)) is not None:
                w.done[i] = r
            else:
                w.pending += 1
                self._waiting[i] = w
        deadline = loop.time() + wait_s
        try:
            while w.pending:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                await asyncio.wait({w.complete}, timeout=min(remaining, 1.0))
                if w.pending and self._elsewhere is None:  # no reader (one process, tests, tools): look itself
                    async with self.db.read() as conn:
                        for r in (await results_for(conn, [i for i in ids if i not in w.done])).values():
                            if self._waiting.pop(r.event_id, None) is w:
                                w.arrived(r)
        finally:
            for i in ids:
                if self._waiting.get(i) is w:
                    del self._waiting[i]
        return w.done

    async def _watch_elsewhere(self) -> None:
        """Events this process accepted that another process processed: answer their waiting
        requests (every ELSEWHERE_POLL_S while some wait) and drop them from the hand-off."""
        loop = asyncio.get_running_loop()
        waiting_since: dict[int, float] = {}
        last_prune = loop.time()
        while True:
            await asyncio.sleep(ELSEWHERE_POLL_S)
            now = loop.time()
            waiting_since = {i: waiting_since.get(i, now) for i in self._waiting}
            # waited a while: this process's own processor would have answered a fresh one itself
            ask = [i for i, t in waiting_since.items() if now - t >= ELSEWHERE_POLL_S]
            if now - last_prune >= 1.0:
                last_prune = now
                old = self.clock() - timedelta(seconds=1)
                ask += [i for i, a in self._handoff.items() if a.received_at is not None and a.received_at < old]
            if not ask:
                continue
            try:
                async with self.db.read() as conn:
                    found = await results_for(conn, sorted(set(ask)))
            except Exception as exc:  # the processor reports database trouble; this only waits
                log.debug("reading other processes' results failed: %s", exc)
                continue
            for r in found.values():
                self._handoff.pop(r.event_id, None)
            self._answer(list(found.values()))

async def _wait_event(event: asyncio.Event, seconds: float) -> None:
    """Wait until ``event`` is set or ``seconds`` passed. Not ``asyncio.wait_for``: on Python 3.11
    it can swallow a cancellation that arrives as the event is set (the task then never stops)."""
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=seconds)
    finally:
        waiter.cancel()


async def _cancelled(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait until it ended (cancelling again should a cancellation get lost)."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s failed", task.get_name(), exc_info=task.exception())


class _Wait:
    """One ``wait=true`` request: the results arrived so far, complete when none is pending."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.done: dict[int, EventResult] = {}
        self.pending = 0
        self.complete: asyncio.Future[None] = loop.create_future()

    def arrived(self, r: EventResult) -> None:
        self.done[r.event_id] = r
        self.pending -= 1
        if self.pending == 0 and not self.complete.done():
            self.complete.set_result(None)
