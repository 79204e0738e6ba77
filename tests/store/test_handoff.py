"""The lean hot path: accepted events reach the processor in memory, the log stays the
recovery source, ``wait=true`` is answered from the processor's results. Real databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from opsconductor.metrics import Metrics
from opsconductor.model.event import NormalizedEvent
from opsconductor.pipeline import Pipeline, build_pipeline
from opsconductor.store.alert_writer import ALERTS, EVENTS
from opsconductor.store.db import Database


def ev(resource: str = "rtr1", **kw: object) -> NormalizedEvent:
    return NormalizedEvent(resource=resource, event="link_down", severity="major", **kw)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def db(db_url: str):  # type: ignore[no-untyped-def]
    database = Database(db_url)
    yield database
    await database.dispose()


def pipeline(db: Database, clock: Clock | None = None, batch_size: int = 1_000) -> Pipeline:
    return build_pipeline(db, metrics=Metrics(), batch_size=batch_size, clock=clock or Clock())


async def tamper(db: Database, ids: list[int], resource: str) -> None:
    """Rewrite logged payloads: shows whether the processor read the log or its memory."""
    async with db.write() as conn:
        for i in ids:
            payload = (await conn.execute(select(EVENTS.c.payload).where(EVENTS.c.id == i))).scalar_one()
            await conn.execute(update(EVENTS).where(EVENTS.c.id == i).values(payload={**payload, "resource": resource}))


async def resources(db: Database) -> list[str]:
    async with db.read() as conn:
        return sorted((await conn.execute(select(ALERTS.c.resource))).scalars())


async def test_own_events_are_processed_from_memory_not_reread(db: Database) -> None:
    p = pipeline(db)
    ids = await p.accept([ev("a"), ev("b")])
    await tamper(db, ids, "from-the-log")
    assert await p.drain() == 2
    assert await resources(db) == ["a", "b"]


async def test_another_process_events_and_crash_leftovers_come_from_the_log(db: Database) -> None:
    crashed, other, survivor = pipeline(db), pipeline(db), pipeline(db)
    left = await crashed.accept([ev("left")])  # accepted, then the process died before processing
    theirs = await other.accept([ev("theirs")])  # written by another process (trap receiver, 2nd server)
    await tamper(db, left, "left-from-log")
    await tamper(db, theirs, "theirs-from-log")
    assert await survivor.drain() == 2
    assert await resources(db) == ["left-from-log", "theirs-from-log"]
    # nothing counted twice: the processes still holding them in memory find nothing to do
    assert await crashed.drain() == 0 and await other.drain() == 0


async def test_in_memory_events_decide_like_logged_ones(db: Database) -> None:
    """occurred_at defaults to the receive time on both paths, not to the processing time."""
    clock = Clock()
    mine, reader = pipeline(db, clock), pipeline(db, clock)
    await mine.accept([ev("mem")])
    logged = await pipeline(db, clock).accept([ev("log")])
    received = clock.now
    clock.now += timedelta(minutes=5)
    assert await mine.drain() == 2
    assert logged
    async with db.read() as conn:
        seen = {r.resource: r.first_seen for r in (await conn.execute(select(ALERTS))).all()}
    assert seen == {"mem": received, "log": received}
    assert await reader.drain() == 0


async def test_bulk_log_write_round_trips_through_the_orm(db: Database) -> None:
    clock = Clock()
    p = pipeline(db, clock)
    e = ev("rtr9", component="ge-0/0/1", labels={"site": "ams"}, value=3.5, summary="down")
    ids = await p.accept([e, ev("x")] * 150)
    assert ids == sorted(ids) and len(set(ids)) == 300
    async with db.read() as conn:
        rows = (await conn.execute(select(EVENTS).where(EVENTS.c.id.in_(ids)).order_by(EVENTS.c.id))).all()
    assert [r.id for r in rows] == ids
    assert rows[0].payload == e.model_dump(mode="json", exclude_none=True)
    assert [r.payload["resource"] for r in rows[:4]] == ["rtr9", "x", "rtr9", "x"]  # arrival order
    assert rows[0].received_at == clock.now and rows[0].processed is False
    await p.drain()
    async with db.read() as conn:
        done = (await conn.execute(select(EVENTS).where(EVENTS.c.id == ids[2]))).one()
    assert done.processed is True and done.processed_at == clock.now and done.outcome == "deduplicated"


async def test_wait_is_answered_when_the_batch_commits(db: Database) -> None:
    p = pipeline(db)
    p.start()
    try:
        ids = await p.accept([ev("w1"), ev("w1"), ev("w2")])
        results = await asyncio.wait_for(p.wait_results(ids, 30), 10)
        assert [results[i].outcome.value for i in ids] == ["created", "deduplicated", "created"]
        # asked again after processing: answered from what the processor kept
        again = await asyncio.wait_for(p.wait_results(ids, 30), 1)
        assert again == results
    finally:
        await p.stop()
    assert p._waiting == {}


async def test_wait_sees_events_another_process_handled(db: Database) -> None:
    mine, other = pipeline(db), pipeline(db)
    ids = await mine.accept([ev("elsewhere")])
    waiting = asyncio.create_task(mine.wait_results(ids, 30))
    await asyncio.sleep(0.1)
    assert await other.drain() == 1  # another server process took the batch
    results = await asyncio.wait_for(waiting, 5)
    assert results[ids[0]].outcome.value == "created"
    assert mine._waiting == {}


async def test_wait_times_out_with_what_is_known(db: Database) -> None:
    p = pipeline(db)
    ids = await p.accept([ev("never")])
    assert await p.wait_results(ids, 0.2) == {}
    assert p._waiting == {}


async def test_bulk_alert_updates_read_back_like_orm_writes(db: Database) -> None:
    """Updates go through the driver with pre-encoded JSON and stored times: the ORM reads them back."""
    clock = Clock()
    p = pipeline(db, clock)
    await p.accept([ev("u1", labels={"site": "ams"}, value=1)])
    await p.drain()
    clock.now += timedelta(seconds=90, microseconds=7)
    await p.accept([ev("u1", labels={"site": "fra", "rack": "r\u00e9 \"2\""}, value=2.5, summary="again")])
    await p.drain()
    async with db.read() as conn:
        row = (await conn.execute(select(ALERTS).where(ALERTS.c.resource == "u1"))).one()
    assert row.labels == {"site": "fra", "rack": "r\u00e9 \"2\""} and row.value == 2.5 and row.summary == "again"
    assert row.last_seen == clock.now and row.updated_at == clock.now and row.duplicate_count == 1
    assert row.first_seen == clock.now - timedelta(seconds=90, microseconds=7)
    async with db.read() as conn:  # SQL sees the same: times compare as times, labels as JSON
        newer = select(ALERTS.c.id).where(ALERTS.c.last_seen > clock.now - timedelta(seconds=1))
        assert len((await conn.execute(newer)).all()) == 1


async def _processed_at(db: Database, ids: list[int]) -> list[datetime]:
    """When each event was processed: a batch stamps its events with one processed_at."""
    async with db.read() as conn:
        stamps = (await conn.execute(select(EVENTS.c.processed_at).where(EVENTS.c.id.in_(ids)))).scalars().all()
    assert len(stamps) == len(ids) and None not in stamps
    return list(stamps)


@pytest.mark.parametrize("linger_s", [0.0, 1.0])
async def test_after_a_small_batch_the_processor_lingers_for_more(db: Database, linger_s: float) -> None:
    """Single-event senders: without the linger every event is a batch of its own (each paying a
    transaction and ~30 statements); with it, events that arrive meanwhile share the next batch.
    (On PostgreSQL a batch takes at most half the busy partitions; the rest follow at once.)"""
    p = build_pipeline(db, metrics=Metrics(), linger_s=linger_s)  # the real clock: each batch its own time
    p.start()
    try:
        first = await p.accept([ev("first")])
        assert (await p.wait_results(first, 10))[first[0]].alert_id is not None  # a batch of one: the linger begins
        ids: list[int] = []
        for i in range(5):
            ids += await p.accept([ev(f"r{i}")])
            await asyncio.sleep(0.05)
        assert len(await p.wait_results(ids, 10)) == 5
    finally:
        await p.stop()
    (began,) = await _processed_at(db, first)
    stamps = await _processed_at(db, ids)
    if linger_s:
        assert len(set(stamps)) == 1 if db.is_sqlite else len(set(stamps)) <= 3
        assert min(stamps) - began >= timedelta(seconds=0.9)  # after the linger
        assert max(stamps) - min(stamps) < timedelta(seconds=0.5)  # no linger between partitions' batches
    else:
        assert len(set(stamps)) >= 3
