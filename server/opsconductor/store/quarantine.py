"""Poison-event isolation: a batch that fails is split until the failing events are found.

The processor runs a batch in one transaction. When that transaction fails for any reason
other than the database being away (:class:`Unavailable`), :func:`isolate` bisects the
batch, each half in its own transaction, in arrival order, down to single events. An
event that fails alone is *quarantined*: a row in ``quarantined_events`` (its error, its
payload, when it arrived) and its log entry is marked processed with outcome
``quarantined``, so nothing behind it waits. Rule state lives in the same transactions,
so a failed half leaves no trace. ``retry`` puts a quarantined event back in the log's
queue (after a rules fix, say); ``discard`` forgets it (the event log keeps it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.errors import NotFound, Unavailable
from opsconductor.model.alert import Outcome
from opsconductor.model.decision import AcceptedEvent
from opsconductor.store.alert_writer import EVENTS, EventResult
from opsconductor.store.safety_tables import QUARANTINE

log = logging.getLogger(__name__)

ERROR_MAX_CHARS = 2_000

# (connection, events) -> results: one batch's correlate + store, inside the given transaction
BatchFn = Callable[[AsyncConnection, Sequence[AcceptedEvent]], Awaitable[list[EventResult]]]
# a connection in a write transaction that holds the processor lock
TxnFn = Callable[[], Any]


def describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text[:ERROR_MAX_CHARS]


class Isolator:
    """Finds the events of a failed batch that fail on their own.

    A failure of *every* event tried (nothing in the batch succeeds) looks like a broken
    dependency or a bug, not a poison event: the batch then stays in the log and is retried
    (the processor backs off), and an event is quarantined only after it failed alone
    ``strikes`` times in a row. An event that fails while others of its batch succeed is
    quarantined at once."""

    def __init__(self, strikes: int = 3):
        self.strikes = strikes
        self._struck: dict[int, int] = {}

    async def isolate(self, txn: TxnFn, process: BatchFn, batch: Sequence[AcceptedEvent], error: BaseException,
                      clock: Callable[[], datetime], on_quarantine: Callable[[], None] = lambda: None
                      ) -> list[EventResult]:
        """Process ``batch`` (which just failed with ``error``) piece by piece; quarantine what fails alone.
        Returns the results of what was processed (quarantined events included); re-raises ``error``
        when nothing could be processed and no event has used up its strikes."""
        results: list[EventResult] = []
        failed: list[tuple[AcceptedEvent, BaseException]] = []

        async def run(part: Sequence[AcceptedEvent], known: BaseException | None) -> None:
            if known is None:
                try:
                    async with txn() as conn:
                        ids = await _still_unprocessed(conn, [a.id for a in part])
                        todo = [a for a in part if a.id in ids]
                        if todo:
                            results.extend(await process(conn, todo))
                    return
                except Unavailable:
                    raise
                except Exception as exc:
                    known = exc
            if len(part) == 1:
                failed.append((part[0], known))
                return
            if len(failed) >= 2 and not results:
                return  # everything fails: not a poison event; stop splitting
            mid = len(part) // 2
            await run(part[:mid], None)
            await run(part[mid:], None)

        await run(batch, error)
        systemic = not results
        for accepted, exc in failed:
            strikes = self._struck.get(accepted.id, 0) + 1
            if systemic and strikes < self.strikes:
                self._struck[accepted.id] = strikes
                continue
            self._struck.pop(accepted.id, None)
            results.append(await quarantine(txn, accepted, exc, clock()))
            on_quarantine()
        if not results:
            raise error
        if len(self._struck) > 10_000:  # events another process took care of
            self._struck.clear()
        return results


async def _still_unprocessed(conn: AsyncConnection, ids: Sequence[int]) -> set[int]:
    # another server process may have taken these events since the failed attempt
    rows = await conn.execute(select(EVENTS.c.id).where(EVENTS.c.id.in_(ids), EVENTS.c.processed == False))  # noqa: E712
    return {int(r[0]) for r in rows}


async def quarantine(txn: TxnFn, accepted: AcceptedEvent, error: BaseException, now: datetime) -> EventResult:
    """Move one event to the quarantine and mark it processed (outcome ``quarantined``)."""
    async with txn() as conn:
        payload = (await conn.execute(select(EVENTS.c.payload).where(EVENTS.c.id == accepted.id))).scalar_one()
        await conn.execute(insert(QUARANTINE).values(
            event_id=accepted.id, received_at=accepted.received_at, quarantined_at=now,
            error=describe(error), payload=payload))
        await conn.execute(update(EVENTS).where(EVENTS.c.id == accepted.id).values(
            processed=True, processed_at=now, alert_id=None, outcome=Outcome.quarantined.value))
    log.error("event %d quarantined (its batch was processed without it): %s", accepted.id, describe(error))
    return EventResult(accepted.id, None, Outcome.quarantined)


def _row(r: Any) -> dict[str, Any]:
    return {"id": r.id, "event_id": r.event_id, "received_at": r.received_at, "quarantined_at": r.quarantined_at,
            "error": r.error, "payload": r.payload}


async def list_quarantined(conn: AsyncConnection, *, limit: int = 100, after: int = 0) -> list[dict[str, Any]]:
    rows = await conn.execute(select(QUARANTINE).where(QUARANTINE.c.id > after).order_by(QUARANTINE.c.id).limit(limit))
    return [_row(r) for r in rows]


async def quarantine_size(conn: AsyncConnection) -> tuple[int, datetime | None]:
    """How many events are in quarantine, and when the newest arrived there."""
    row = (await conn.execute(select(func.count(), func.max(QUARANTINE.c.quarantined_at)))).one()
    newest = row[1]
    if isinstance(newest, str):
        newest = datetime.fromisoformat(newest)
    return int(row[0]), newest


async def retry(conn: AsyncConnection, qid: int) -> int:
    """Put the quarantined event back in the processing queue; returns its event id."""
    event_id = (await conn.execute(select(QUARANTINE.c.event_id).where(QUARANTINE.c.id == qid))).scalar_one_or_none()
    if event_id is None:
        raise NotFound(f"no quarantined event {qid}")
    await conn.execute(delete(QUARANTINE).where(QUARANTINE.c.id == qid))
    await conn.execute(update(EVENTS).where(EVENTS.c.id == event_id).values(
        processed=False, processed_at=None, alert_id=None, outcome=None))
    return int(event_id)


async def discard(conn: AsyncConnection, qid: int) -> None:
    """Forget a quarantined event (it stays in the event log with outcome ``quarantined``)."""
    if (await conn.execute(delete(QUARANTINE).where(QUARANTINE.c.id == qid))).rowcount == 0:
        raise NotFound(f"no quarantined event {qid}")
