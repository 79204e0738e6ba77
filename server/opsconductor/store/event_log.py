"""The append-only event log: every accepted event, durably, before we answer 202."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.model.alert import Outcome
from opsconductor.model.decision import AcceptedEvent
from opsconductor.model.event import NormalizedEvent, Severity
from opsconductor.store.alert_writer import EVENTS, EventResult
from opsconductor.store.partitions import partition_of
from opsconductor.store.types import sqlite_time


async def accept_in(conn: AsyncConnection, events: Sequence[NormalizedEvent], now: datetime) -> list[int]:
    """THE accept path: make events durable in the log, in order, in ``conn``'s transaction;
    returns their ids (monotonic: arrival order). Every producer comes through here:
    ``Pipeline.accept`` (REST, poller, webhooks), the SNMP trap process, correlation parents."""
    if not events:
        return []
    # Pre-encoded JSON (pydantic's serializer, in Rust) and the driver's bulk path: SQLAlchemy's
    # per-row bind processing (stdlib json, datetime conversion) was a tenth of the intake's CPU.
    payloads = [e.model_dump_json(exclude_none=True) for e in events]
    if conn.dialect.name == "sqlite":
        # Inside the write transaction (one writer) the new rowids (id is INTEGER PRIMARY KEY)
        # are contiguous, so the ids are the last n.
        at = sqlite_time(now)
        await conn.exec_driver_sql("INSERT INTO events (received_at, payload, processed, part) VALUES (?, ?, 0, ?)",
                                   [(at, p, partition_of(e.resource)) for p, e in zip(payloads, events, strict=True)])
        last = int((await conn.exec_driver_sql("SELECT max(id) FROM events")).scalar_one())
        return list(range(last - len(payloads) + 1, last + 1))
    # One statement; ORDER BY makes nextval() follow the input order, so the sorted ids are in
    # arrival order (the same reasoning as SQLAlchemy's sentinel-free insertmanyvalues).
    result = await conn.exec_driver_sql(
        "INSERT INTO events (received_at, payload, processed, part) SELECT $1::timestamptz, t.p::jsonb, false, t.k "
        "FROM unnest($2::text[], $3::smallint[]) WITH ORDINALITY AS t(p, k, n) ORDER BY t.n RETURNING id",
        (now, payloads, [partition_of(e.resource) for e in events]))
    return sorted(int(r[0]) for r in result)


def in_memory(event: NormalizedEvent, received_at: datetime) -> NormalizedEvent:
    """An accepted event as :func:`stored_event` would rebuild it from the log (occurred_at defaults
    to the receive time), for the processor's in-memory hand-off."""
    return event if event.occurred_at is not None else event.model_copy(update={"occurred_at": received_at})


async def fetch_unprocessed(conn: AsyncConnection, limit: int,
                            known: Mapping[int, AcceptedEvent] | None = None,
                            parts: Collection[int] | None = None) -> list[AcceptedEvent]:
    """The oldest unprocessed events (of ``parts``, or all), in arrival order. ``known``: events this
    process accepted and still holds in memory; only the others (another process's, or a crash's
    leftovers) are read and rebuilt from the log."""
    known = known or {}
    stmt = (
        select(EVENTS.c.id)
        .where(EVENTS.c.processed == False)  # noqa: E712 - SQL expression
        .order_by(EVENTS.c.id)
        .limit(limit)
    )
    if parts is not None:
        stmt = stmt.where(EVENTS.c.part.in_(sorted(parts)))
    ids = list((await conn.execute(stmt)).scalars())
    missing = [i for i in ids if i not in known]
    read: dict[int, AcceptedEvent] = {}
    for i in range(0, len(missing), 500):
        rows = select(EVENTS.c.id, EVENTS.c.payload, EVENTS.c.received_at).where(EVENTS.c.id.in_(missing[i : i + 500]))
        for r in (await conn.execute(rows)).all():
            read[r.id] = AcceptedEvent(r.id, stored_event(r.payload, r.received_at), r.received_at)
    return [known[i] if i in known else read[i] for i in ids]


def stored_event(payload: dict[str, Any], received_at: datetime) -> NormalizedEvent:
    """Rebuild an event from the log without validating it again (it was validated on accept,
    and validation is a third of the processing cost); occurred_at defaults to the receive time."""
    fields = dict(payload)
    try:
        if (sev := fields.get("severity")) is not None:
            fields["severity"] = Severity(sev)
        at = fields.get("occurred_at")
        fields["occurred_at"] = datetime.fromisoformat(at) if at else received_at
    except (TypeError, ValueError):
        pass  # a row no current version would write: processing it fails, and it is quarantined alone
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


async def pending_partitions(conn: AsyncConnection) -> list[tuple[int, int]]:
    """The partitions with unprocessed events, oldest first: (partition, how many)."""
    result = await conn.exec_driver_sql(
        "SELECT part, count(*) FROM events WHERE NOT processed GROUP BY part ORDER BY min(id)")
    rows: list[Any] = list(result.all())
    return [(int(r[0]), int(r[1])) for r in rows]
