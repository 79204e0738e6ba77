"""The append-only event log: every accepted event, durably, before we answer 202."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.model.alert import Outcome
from opsconductor.model.decision import AcceptedEvent
from opsconductor.model.event import NormalizedEvent, Severity
from opsconductor.store.alert_writer import EVENTS, EventResult


async def accept_in(conn: AsyncConnection, events: Sequence[NormalizedEvent], now: datetime) -> list[int]:
    """THE accept path: make events durable in the log, in order, in ``conn``'s transaction;
    returns their ids (monotonic: arrival order). Every producer comes through here:
    ``Pipeline.accept`` (REST, poller, webhooks), the SNMP trap process, correlation parents."""
    if not events:
        return []
    rows = [
        {"received_at": now, "payload": e.model_dump(mode="json", exclude_none=True), "processed": False}
        for e in events
    ]
    if conn.dialect.name == "sqlite":
        # RETURNING with sort_by_parameter_order makes SQLAlchemy send SQLite one statement per
        # row (no insert sentinel): ~10x slower for a batch of traps. Inside the write transaction
        # the new rowids (id is INTEGER PRIMARY KEY) are contiguous, so the ids are the last n.
        await conn.execute(insert(EVENTS), rows)
        last = int((await conn.execute(select(func.max(EVENTS.c.id)))).scalar_one())
        return list(range(last - len(rows) + 1, last + 1))
    result = await conn.execute(insert(EVENTS).returning(EVENTS.c.id, sort_by_parameter_order=True), rows)
    return list(result.scalars().all())


async def fetch_unprocessed(conn: AsyncConnection, limit: int) -> list[AcceptedEvent]:
    """The oldest unprocessed events, in arrival order."""
    stmt = (
        select(EVENTS.c.id, EVENTS.c.payload, EVENTS.c.received_at)
        .where(EVENTS.c.processed == False)  # noqa: E712 - SQL expression
        .order_by(EVENTS.c.id)
        .limit(limit)
    )
    return [AcceptedEvent(r.id, stored_event(r.payload, r.received_at), r.received_at)
            for r in (await conn.execute(stmt)).all()]


def stored_event(payload: dict[str, Any], received_at: datetime) -> NormalizedEvent:
    """Rebuild an event from the log without validating it again (it was validated on accept,
    and validation is a third of the processing cost); occurred_at defaults to the receive time."""
    fields = dict(payload)
    if (sev := fields.get("severity")) is not None:
        fields["severity"] = Severity(sev)
    at = fields.get("occurred_at")
    fields["occurred_at"] = datetime.fromisoformat(at) if at else received_at
    return NormalizedEvent.model_construct(**fields)


async def results_for(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, EventResult]:
    """Outcomes of the given events that have been processed."""
    out: dict[int, EventResult] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        stmt = select(EVENTS.c.id, EVENTS.c.alert_id, EVENTS.c.outcome).where(
            EVENTS.c.id.in_(chunk), EVENTS.c.processed == True  # noqa: E712
        )
        for r in (await conn.execute(stmt)).all():
            out[r.id] = EventResult(r.id, r.alert_id, Outcome(r.outcome))
    return out


async def backlog(conn: AsyncConnection) -> tuple[int, datetime | None]:
    """How many events await processing, and when the oldest of them arrived."""
    row = (
        await conn.execute(
            select(func.count(), func.min(EVENTS.c.received_at)).where(EVENTS.c.processed == False)  # noqa: E712
        )
    ).one()
    oldest = row[1]
    if isinstance(oldest, str):
        oldest = datetime.fromisoformat(oldest)
    return int(row[0]), oldest
