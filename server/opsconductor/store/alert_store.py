"""The alert store: the one place that takes the processing lock and owns the transition sink.

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

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction holding the processing lock."""
        async with self.db.write() as conn:
            await processing_lock(conn)
            yield conn

    async def apply_decisions(self, conn: AsyncConnection, decisions: Sequence[Decision], now: datetime,
                              open_rows: dict[str, Row] | None = None) -> list[EventResult]:
        return await apply_decisions(conn, decisions, now, default_timeout=self.default_timeout, sink=self.sink,
                                     open_rows=open_rows)
