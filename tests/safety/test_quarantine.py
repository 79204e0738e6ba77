"""Poison isolation: a failing event is quarantined, every other event is processed, processing never stops."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from opsconductor.model.event import NormalizedEvent
from opsconductor.store.alert_writer import ALERTS, EVENTS
from opsconductor.store.db import Database
from opsconductor.store.event_log import accept_in
from tests.support.server import LiveServer, start_live_server

# The exact event of issue 8: older versions stored it (202), then failed on every batch, forever.
POISON = {"resource": "rtr9", "event": "clock_skew", "occurred_at": "9999-12-31T12:00:00Z"}
GOOD = [{"resource": f"rtr{i}", "event": "link_down", "severity": "major"} for i in range(1, 4)]


async def wait_processed(server: LiveServer, n_events: int, wait_s: float = 15.0) -> None:
    for _ in range(int(wait_s / 0.05)):
        async with server.runtime.db.read() as conn:
            rows = (await conn.execute(select(EVENTS.c.processed))).all()
        if len(rows) >= n_events and all(r[0] for r in rows):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("events were not all processed")


async def open_resources(server: LiveServer) -> list[str]:
    async with server.runtime.db.read() as conn:
        return sorted(r[0] for r in (await conn.execute(select(ALERTS.c.resource))).all())


async def test_the_poison_event_of_the_issue_is_quarantined_and_events_behind_it_are_processed(
    db_url: str, settings_factory: Any
) -> None:
    # Stored by a version without the time check (or by a restart with it in the log): it is in the log first.
    db = Database(db_url)
    async with db.write() as conn:
        poison = NormalizedEvent.model_construct(**{**POISON, "occurred_at": datetime(9999, 12, 31, 12, tzinfo=UTC)})
        await accept_in(conn, [NormalizedEvent(**GOOD[0]), poison, NormalizedEvent(**GOOD[1])], datetime.now(UTC))
    await db.dispose()
    async with start_live_server(settings_factory()) as server:
        await wait_processed(server, 3)
        async with server.client(server.write_key) as c:
            # processing did not stop: a new event behind it is processed too, with its outcome
            r = await c.post("/api/v1/events", params={"wait": "true"}, json=GOOD[2])
            assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "created", r.text
            q = (await c.get("/api/v1/events/quarantine")).json()["quarantine"]
        assert await open_resources(server) == ["rtr1", "rtr2", "rtr3"]
        assert len(q) == 1 and q[0]["event_id"] == 2 and q[0]["payload"]["resource"] == "rtr9"
        assert "OverflowError" in q[0]["error"] and q[0]["received_at"]
        assert b"opsconductor_events_quarantined_total 1.0" in server.runtime.metrics.render()
        async with server.runtime.db.read() as conn:
            outcome = (await conn.execute(select(EVENTS.c.outcome).where(EVENTS.c.id == 2))).scalar_one()
        assert outcome == "quarantined"


async def test_the_api_refuses_impossible_times_with_422(live_server: LiveServer) -> None:
    async with live_server.client(live_server.write_key) as c:
        for at in ("9999-12-31T12:00:00Z", "0001-01-01T00:00:00+01:00", "1969-12-31T23:59:59Z"):
            r = await c.post("/api/v1/events", json=[GOOD[0], {**POISON, "occurred_at": at}])
            assert r.status_code == 422, (at, r.text)
            assert r.json()["errors"][0]["index"] == 1 and r.json()["errors"][0]["field"] == "occurred_at"
        r = await c.post("/api/v1/rules/explain", json=POISON)
        assert r.status_code == 422, r.text
        ok = await c.post("/api/v1/events", json={**POISON, "occurred_at": "2026-01-01T00:00:00Z"})
        assert ok.status_code == 202
    async with live_server.runtime.db.read() as conn:
        assert len((await conn.execute(select(EVENTS.c.id))).all()) == 1  # nothing of the refused requests


async def test_other_intakes_stamp_an_impossible_time_with_the_receive_time_and_keep_the_original(
    live_server: LiveServer,
) -> None:
    # Pipeline.accept is where every source (webhooks, traps, polls) hands its events over.
    far = datetime(9999, 12, 31, 12, tzinfo=UTC)
    await live_server.runtime.pipeline.accept([NormalizedEvent(resource="rtr9", event="clock_skew", occurred_at=far)])
    await wait_processed(live_server, 1)
    async with live_server.runtime.db.read() as conn:
        row = (await conn.execute(select(ALERTS.c.first_seen, ALERTS.c.labels))).one()
    assert row.labels["occurred_at_original"] == "9999-12-31T12:00:00Z"
    assert abs((row.first_seen - datetime.now(UTC)).total_seconds()) < 60
    async with live_server.client(live_server.read_key) as c:
        assert (await c.get("/api/v1/events/quarantine")).json()["quarantine"] == []


BAD_RULE = "rules:\n  - id: skew\n    when: {event: clock_skew}\n    dedup: {key: [resource]}\n    timeout: {t}\n"


async def test_retry_after_a_rules_fix_processes_the_quarantined_event(settings_factory: Any, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    # a rule whose timeout no date can hold: every clock_skew event fails alone
    (rules / "skew.yaml").write_text(BAD_RULE.replace("{t}", "100000000d"))
    settings = settings_factory(rules_dir=rules, rules_watch=False, rules_engine_worker=False)
    async with start_live_server(settings) as server, server.client(server.admin_key) as c:
        ok = {**POISON, "occurred_at": "2026-01-01T00:00:00Z"}
        r = await c.post("/api/v1/events", params={"wait": "true"}, json=[GOOD[0], ok, GOOD[1]])
        assert [x["outcome"] for x in r.json()["results"]] == ["created", "quarantined", "created"], r.text
        q = (await c.get("/api/v1/events/quarantine")).json()["quarantine"]
        assert len(q) == 1
        # retry before the fix: quarantined again (a new entry), nothing else changes
        assert (await c.post(f"/api/v1/events/quarantine/{q[0]['id']}/retry")).status_code == 202
        await wait_processed(server, 3)
        q = (await c.get("/api/v1/events/quarantine")).json()["quarantine"]
        assert len(q) == 1 and q[0]["event_id"] == r.json()["ids"][1]
        (rules / "skew.yaml").write_text(BAD_RULE.replace("{t}", "1d"))
        assert (await c.post("/api/v1/rules/reload")).status_code == 200
        assert (await c.post(f"/api/v1/events/quarantine/{q[0]['id']}/retry")).status_code == 202
        await wait_processed(server, 3)
        assert (await c.get("/api/v1/events/quarantine")).json()["quarantine"] == []
        assert await open_resources(server) == ["rtr1", "rtr2", "rtr9"]
        assert (await c.post(f"/api/v1/events/quarantine/{q[0]['id']}/retry")).status_code == 404


async def test_discard_removes_it_from_the_quarantine(settings_factory: Any, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "skew.yaml").write_text(BAD_RULE.replace("{t}", "100000000d"))
    settings = settings_factory(rules_dir=rules, rules_watch=False, rules_engine_worker=False)
    async with start_live_server(settings) as server, server.client(server.write_key) as c:
        await c.post("/api/v1/events", params={"wait": "true"},
                     json={**POISON, "occurred_at": "2026-01-01T00:00:00Z"})
        q = (await c.get("/api/v1/events/quarantine")).json()["quarantine"]
        assert (await c.delete(f"/api/v1/events/quarantine/{q[0]['id']}")).status_code == 204
        assert (await c.get("/api/v1/events/quarantine")).json()["quarantine"] == []
        assert (await c.delete(f"/api/v1/events/quarantine/{q[0]['id']}")).status_code == 404


async def test_a_log_row_that_cannot_even_be_read_back_is_quarantined(db_url: str, settings_factory: Any) -> None:
    db = Database(db_url)
    async with db.write() as conn:
        await accept_in(conn, [NormalizedEvent(**GOOD[0]), NormalizedEvent(**GOOD[1])], datetime.now(UTC))
        # an older version's (or a hand-edited) row: a severity and a time nothing can parse
        await conn.execute(EVENTS.update().where(EVENTS.c.id == 1).values(
            payload={"resource": "rtr9", "event": "e", "severity": "disaster", "occurred_at": "someday"}))
    await db.dispose()
    async with start_live_server(settings_factory()) as server:
        await wait_processed(server, 2)
        async with server.client(server.read_key) as c:
            q = (await c.get("/api/v1/events/quarantine")).json()["quarantine"]
        assert [x["event_id"] for x in q] == [1] and await open_resources(server) == ["rtr2"]
