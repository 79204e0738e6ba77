"""The alert store: the one place that takes the processing locks and owns the transition sink.

Every alert change runs in a transaction from :meth:`AlertStore.transaction`, which on
PostgreSQL takes the advisory lock that serializes alert changes across server processes
(the batch processor, operator actions, expiry, re-decisions, reminders), and writes
through ``store/alert_writer.py``, which hands the transitions to :attr:`AlertStore.sink`
(the notify outbox) in that same transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.model.decision import Decision
from opsconductor.model.lifecycle import Row
from opsconductor.store.alert_writer import EventResult, NoSink, TransitionSink, apply_decisions
from opsconductor.store.db import Database
from opsconductor.store.event_log import pending_partitions
from opsconductor.store.partitions import PARTITION_LOCK_CLASS, Scope, enter, leave


def utcnow() -> datetime:
    return datetime.now(UTC)


class Clock:
    """The one clock of a runtime: every stage reads it, tests replace :attr:`fn`."""

    def __init__(self, fn: Callable[[], datetime] = utcnow):
        self.fn = fn

    def __call__(self) -> datetime:
        return self.fn()


PROCESSOR_LOCK_KEY = 0x0C0DE001
"""PostgreSQL advisory lock that serializes alert changes across server processes."""


async def processing_lock(conn: AsyncConnection) -> None:
    """Take the processing lock for the rest of ``conn``'s transaction (no-op on SQLite,
    whose single writer already serializes)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PROCESSOR_LOCK_KEY})


class AlertStore:
    """Transactions for alert changes (with the processing lock) and the sink they report to."""

    def __init__(self, db: Database, *, sink: TransitionSink | None = None, default_timeout: int = 86_400,
                 clock: Callable[[], datetime] | None = None):
        self.db = db
        self.sink: TransitionSink = sink or NoSink()
        self.default_timeout = default_timeout
        self.clock = clock if isinstance(clock, Clock) else Clock(clock or utcnow)
        self.busy_elsewhere = False  # the last partition transaction found every busy partition taken
        self.left_for_next = False  # ... or left busy partitions for its next batch (at most half per batch)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction holding the processing lock."""
        async with self.db.write() as conn:
            await processing_lock(conn)
            yield conn

    @contextlib.asynccontextmanager
    async def partition_transaction(self, limit: int) -> AsyncIterator[tuple[AsyncConnection, Scope | None]]:
        """A write transaction holding the processing lock SHARED and the locks of some partitions
        with unprocessed events (about ``limit`` events' worth, at most half the busy partitions, so
        other processors find work); the scope is None when every busy partition is taken.
        PostgreSQL only (``store/partitions.py``)."""
        async with self.db.write() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": PROCESSOR_LOCK_KEY})
            pending = await pending_partitions(conn)
            cap = max(1, (len(pending) + 1) // 2)
            taken: list[int] = []
            n = tried = 0
            for part, count in pending:  # oldest first
                if n >= limit or len(taken) >= cap:
                    break
                tried += 1
                got = await conn.execute(text("SELECT pg_try_advisory_xact_lock(:c, :p)"),
                                         {"c": PARTITION_LOCK_CLASS, "p": part})
                if got.scalar_one():
                    taken.append(part)
                    n += count
            self.busy_elsewhere = bool(pending) and not taken
            self.left_for_next = tried < len(pending)  # busy partitions this batch did not even try
            if not taken:
                yield conn, None
                return
            scope = Scope(frozenset(taken))
            enter(conn, scope)
            try:
                yield conn, scope
            finally:
                leave(conn)

    async def apply_decisions(self, conn: AsyncConnection, decisions: Sequence[Decision], now: datetime,
                              open_rows: dict[str, Row] | None = None) -> list[EventResult]:
        return await apply_decisions(conn, decisions, now, default_timeout=self.default_timeout, sink=self.sink,
                                     open_rows=open_rows)
