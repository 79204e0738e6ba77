"""Event log -> alert table through the real pipeline on a real database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.metrics import Metrics
from opsconductor.model.decision import AcceptedEvent, Decided
from opsconductor.model.event import NormalizedEvent
from opsconductor.pipeline import DefaultCorrelator, build_pipeline
from opsconductor.store.alert_writer import ALERTS, EVENTS, HISTORY
from opsconductor.store.db import Database


def ev(resource: str = "rtr1", severity: str = "major", event: str = "link_down", **kw: object) -> NormalizedEvent:
    return NormalizedEvent(resource=resource, event=event, severity=severity, **kw)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def db(db_url: str):  # type: ignore[no-untyped-def]
    database = Database(db_url)
    yield database
    await database.dispose()


async def scalar(db: Database, stmt):  # type: ignore[no-untyped-def]
    async with db.read() as conn:
        return (await conn.execute(stmt)).scalar()


async def test_batch_with_repeats_resolve_and_reopen_in_one_transaction(db: Database) -> None:
    p = build_pipeline(db, metrics=Metrics(), batch_size=100)
    ids = await p.accept([ev(), ev(), ev(severity="critical"), ev(severity="clear"), ev(), ev("rtr2")])
    assert await p.drain() == 6
    results = await p.wait_results(ids, 1)
    assert [results[i].outcome.value for i in ids] == [
        "created", "deduplicated", "updated", "resolved", "created", "created"]
    first, second = results[ids[0]].alert_id, results[ids[4]].alert_id
    assert first != second
    async with db.read() as conn:
        rows = {r.id: r for r in (await conn.execute(select(ALERTS))).all()}
    # the repeat counted 1, the severity change reset it (Alerta's duplicateCount)
    assert rows[first].status == "resolved" and rows[first].duplicate_count == 0
    assert rows[first].previous_severity == "critical"
    assert rows[second].status == "active" and rows[second].duplicate_count == 0
    assert await scalar(db, select(func.count()).select_from(HISTORY).where(HISTORY.c.alert_id == first)) == 3


async def test_processing_is_ordered_per_fingerprint_across_batches(db: Database) -> None:
    p = build_pipeline(db, metrics=Metrics(), batch_size=7)
    sev = ["minor", "major", "critical", "warning"]
    await p.accept([ev(f"r{i % 5}", sev[i % 4]) for i in range(100)])
    await p.drain()
    async with db.read() as conn:
        rows = (await conn.execute(select(ALERTS).order_by(ALERTS.c.resource))).all()
    assert len(rows) == 5
    for r in rows:  # the last event for r{k} is index 95+k -> severity sev[(95+k) % 4]
        k = int(r.resource[1:])
        assert r.severity == sev[(95 + k) % 4]


class ExplodingCorrelator(DefaultCorrelator):
    """A correlate stage that dies mid-batch, like a crashed engine would."""

    async def decide(self, conn: AsyncConnection, batch: Sequence[AcceptedEvent]) -> Decided:
        raise RuntimeError("engine crashed")


async def test_crash_during_processing_loses_nothing_and_counts_nothing_twice(db: Database) -> None:
    p = build_pipeline(db, metrics=Metrics())
    await p.accept([ev() for _ in range(10)])
    await p.drain()
    p.correlator = ExplodingCorrelator()
    await p.accept([ev() for _ in range(5)])
    with pytest.raises(RuntimeError):
        await p.process_once()
    assert await scalar(db, select(ALERTS.c.duplicate_count)) == 9
    # "restart": a fresh pipeline over the same database picks up the unprocessed events
    p2 = build_pipeline(Database(db.url), metrics=Metrics())
    assert await p2.drain() == 5
    await p2.db.dispose()
    assert await scalar(db, select(ALERTS.c.duplicate_count)) == 14
    assert await scalar(db, select(func.count()).select_from(EVENTS).where(EVENTS.c.processed == False)) == 0  # noqa: E712


async def test_housekeeping_expires_alerts_not_seen_within_their_timeout(db: Database, settings_factory) -> None:  # type: ignore[no-untyped-def]
    from opsconductor.plugins import build_runtime
    from opsconductor.store.housekeeping import expire_due

    clock = Clock()
    rt = build_runtime(settings_factory(alert_timeout_s=60))
    rt.pipeline.clock = clock
    await rt.pipeline.accept([ev("old", occurred_at=clock.now), ev("fresh", occurred_at=clock.now)])
    await rt.pipeline.drain()
    clock.now += timedelta(seconds=50)
    await rt.pipeline.accept([ev("fresh", occurred_at=clock.now)])
    await rt.pipeline.drain()
    clock.now += timedelta(seconds=20)
    assert await expire_due(rt) == 1
    async with rt.db.read() as conn:
        status = dict((await conn.execute(select(ALERTS.c.resource, ALERTS.c.status))).all())
        kinds = (await conn.execute(select(HISTORY.c.kind, HISTORY.c.status, HISTORY.c.actor)
                                    .order_by(HISTORY.c.id.desc()).limit(1))).one()
    assert status == {"old": "expired", "fresh": "active"}
    assert tuple(kinds) == ("status", "expired", "housekeeping")
    await rt.db.dispose()


async def test_sqlite_planner_statistics_make_the_default_alert_page_use_the_last_seen_index(
    settings_factory,  # type: ignore[no-untyped-def]
) -> None:
    from opsconductor.plugins import build_runtime
    from opsconductor.store.alert_queries import SORTABLE, AlertFilter
    from opsconductor.store.housekeeping import refresh_planner_stats

    rt = build_runtime(settings_factory())
    if not rt.db.is_sqlite:
        pytest.skip("PostgreSQL keeps planner statistics itself (autovacuum)")
    await rt.pipeline.accept([ev(f"r{i}") for i in range(3000)])
    await rt.pipeline.drain()
    await refresh_planner_stats(rt)
    key = SORTABLE["last_seen"]
    stmt = select(ALERTS).where(*AlertFilter().where()).order_by(key.desc(), ALERTS.c.id.desc()).limit(101)
    async with rt.db.read() as conn:
        compiled = stmt.compile(conn.sync_connection, compile_kwargs={"literal_binds": True})  # type: ignore[arg-type]
        plan = " ".join(str(r) for r in (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")).all())
    await rt.db.dispose()
    assert "ix_alerts_last_seen" in plan and "TEMP B-TREE" not in plan, plan


def test_events_rebuilt_from_the_log_equal_the_validated_originals() -> None:
    from opsconductor.store.event_log import stored_event

    received = datetime(2026, 3, 1, 12, tzinfo=UTC)
    samples = [
        ev(),
        ev(severity="clear", component="ge-0/0/1", labels={"site": "ams"}, value=3.5, summary="s", source="x",
           occurred_at=datetime(2026, 3, 1, 11, 59, 59, 123456, tzinfo=UTC), raw={"oid": [1, 3, 6]}),
        NormalizedEvent(resource="r", event="e", value="text"),
    ]
    for original in samples:
        rebuilt = stored_event(original.model_dump(mode="json", exclude_none=True), received)
        expected = original if original.occurred_at else original.model_copy(update={"occurred_at": received})
        assert rebuilt == expected
        assert rebuilt.model_dump() == expected.model_dump()


async def test_the_pipeline_is_composed_from_its_stages(db: Database) -> None:
    from opsconductor.store.alert_store import AlertStore
    from opsconductor.store.alert_writer import NoSink

    sink = NoSink()
    store = AlertStore(db, sink=sink, default_timeout=60)
    p = build_pipeline(db, metrics=Metrics(), correlator=ExplodingCorrelator(), store=store)
    assert (p.store, p.sink, p.default_timeout, type(p.correlator)) == (store, sink, 60, ExplodingCorrelator)
    with pytest.raises(ValueError):
        build_pipeline(db, metrics=Metrics(), store=store, sink=NoSink())
