"""The one module that knows the stage order.

    sources -> normalize -> correlate -> store -> notify

Sources (the poller, trap receiver, webhooks, REST clients) hand normalized events
to :meth:`Pipeline.accept`, which makes them durable in the event log. The
processor then takes the log in arrival order, batch by batch, and in ONE
transaction per batch: correlate (decisions) -> store (alert table, history,
processed markers) -> notify (outbox rows, via the transition sink). A crash
anywhere re-runs the batch from the log; nothing is counted twice because the
processed markers commit with the alert changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import text

from opsconductor.correlate.decision import Correlator, DefaultCorrelator
from opsconductor.errors import Unavailable
from opsconductor.metrics import Metrics
from opsconductor.model.alert import Outcome
from opsconductor.model.event import NormalizedEvent
from opsconductor.store.alert_writer import EventResult, NoSink, TransitionSink, apply_decisions
from opsconductor.store.db import Database
from opsconductor.store.event_log import append_events, fetch_unprocessed, results_for

log = logging.getLogger(__name__)

PROCESSOR_LOCK_KEY = 0x0C0DE001
"""PostgreSQL advisory lock that serializes batch processing across server processes."""


STATS_MIN_GROWTH = 2_000
"""New alerts before the first planner-statistics refresh."""

GROUP_COMMIT_MAX = 20_000
"""Most events written by one intake transaction."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class Pipeline:
    """Accepts normalized events and drives them through correlate -> store -> notify."""

    def __init__(
        self,
        db: Database,
        *,
        metrics: Metrics,
        correlator: Correlator | None = None,
        sink: TransitionSink | None = None,
        default_timeout: int = 86_400,
        batch_size: int = 1_000,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.db = db
        self.metrics = metrics
        self.correlator: Correlator = correlator or DefaultCorrelator()
        self.sink: TransitionSink = sink or NoSink()
        self.default_timeout = default_timeout
        self.batch_size = batch_size
        self.clock = clock
        self._wake = asyncio.Event()
        self._processed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._intake: asyncio.Queue[tuple[Sequence[NormalizedEvent], asyncio.Future[list[int]]]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._created_since_stats = 0
        self._rows_at_stats = 0

    # -- sources -> event log ------------------------------------------------------------
    async def accept(self, events: Sequence[NormalizedEvent]) -> list[int]:
        """Store events durably in the event log; returns their ids. Processing follows.

        While the pipeline runs, concurrent callers share one transaction (group commit):
        fifty single-event requests cost one commit, not fifty.
        """
        if self._writer is None:
            return await self._append([events])
        fut: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._intake.put_nowait((events, fut))
        return await fut

    async def _append(self, groups: Sequence[Sequence[NormalizedEvent]]) -> list[int]:
        flat = [e for g in groups for e in g]
        async with self.db.write() as conn:
            ids = await append_events(conn, flat, self.clock())
        for e in flat:
            self.metrics.events_received.labels(source=e.source or "api").inc()
        self._wake.set()
        return ids

    async def _group_commit(self) -> None:
        while True:
            items = [await self._intake.get()]
            size = len(items[0][0])
            while not self._intake.empty() and size < GROUP_COMMIT_MAX:
                items.append(self._intake.get_nowait())
                size += len(items[-1][0])
            live = [(evs, fut) for evs, fut in items if not fut.done()]  # the client may have gone
            try:
                ids = await self._append([evs for evs, _ in live])
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
        """Process one batch of the oldest unprocessed events; returns how many."""
        async with self.db.write() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PROCESSOR_LOCK_KEY})
            batch = await fetch_unprocessed(conn, self.batch_size)
            if not batch:
                return 0
            # A correlator with state (the rules engine) decides inside this transaction.
            decide_in = getattr(self.correlator, "decide_in", None)
            decisions = await (decide_in(conn, batch) if decide_in is not None else self.correlator.decide(batch))
            now = self.clock()
            results = await apply_decisions(
                conn, decisions, now, default_timeout=self.default_timeout, sink=self.sink
            )
            after_apply = getattr(self.correlator, "after_apply", None)  # incident links (correlate stage)
            if after_apply is not None:
                await after_apply(conn, decisions, now)
        for a in batch:
            self.metrics.processing_lag.observe(max(0.0, (now - a.received_at).total_seconds()))
        created = 0
        for r in results:
            self.metrics.events_processed.labels(outcome=r.outcome.value).inc()
            created += r.outcome in (Outcome.created, Outcome.suppressed)
        await self._track_growth(created)
        async with self._processed:
            self._processed.notify_all()
        return len(batch)

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
        while n := await self.process_once():
            total += n
        return total

    async def _run(self) -> None:
        delay = 0.0
        while True:
            try:
                n = await self.process_once()
                delay = 0.0
                if n:
                    continue
            except Unavailable as exc:
                self.metrics.processing_errors.inc()
                delay = min(max(delay * 2, 0.2), 5.0)
                log.warning("event processing paused, database unavailable: %s (retry in %.1fs)", exc, delay)
            except Exception:
                self.metrics.processing_errors.inc()
                delay = min(max(delay * 2, 0.2), 5.0)
                log.exception("event processing failed; the batch stays in the log and is retried")
            self._wake.clear()
            # Wake on new events, or poll: other server processes may have accepted some.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay or 1.0)

    def start(self) -> None:
        """Start the background processor (also processes whatever a crash left in the log)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="opsconductor-processor")
        if self._writer is None:
            self._writer = asyncio.create_task(self._group_commit(), name="opsconductor-intake")

    async def stop(self) -> None:
        """Stop processing; accepts still work (directly) after this."""
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
            while not self._intake.empty():  # hand any queued accepts to the direct path
                evs, fut = self._intake.get_nowait()
                if not fut.done():
                    try:
                        fut.set_result(await self._append([evs]))
                    except Exception as exc:
                        fut.set_exception(exc)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_results(self, ids: Sequence[int], wait_s: float) -> dict[int, EventResult]:
        """Wait until the given events are processed (or timeout); returns the results known."""
        deadline = asyncio.get_running_loop().time() + wait_s
        pending = list(ids)
        done: dict[int, EventResult] = {}
        while pending:
            async with self.db.read() as conn:
                done.update(await results_for(conn, pending))
            pending = [i for i in pending if i not in done]
            remaining = deadline - asyncio.get_running_loop().time()
            if not pending or remaining <= 0:
                break
            async with self._processed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._processed.wait(), timeout=min(remaining, 0.25))
        return done
