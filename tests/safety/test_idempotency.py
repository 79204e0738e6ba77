"""Idempotency-Key: a retried request gets the first answer and nothing is stored twice."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from opsconductor.store.alert_writer import EVENTS
from tests.support.server import LiveServer, start_live_server

EV = {"resource": "rtr1", "event": "link_down", "severity": "major"}
REPO = Path(__file__).resolve().parents[2]


async def stored(server: LiveServer) -> int:
    async with server.runtime.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(EVENTS))).scalar_one())


async def test_a_retry_with_the_same_key_returns_the_first_answer_and_stores_nothing(live_server: LiveServer) -> None:
    async with live_server.client(live_server.write_key) as c:
        h = {"Idempotency-Key": "batch-0001"}
        first = await c.post("/api/v1/events", json=[EV, EV, EV], headers=h)
        again = await c.post("/api/v1/events", json=[EV, EV, EV], headers=h)
        assert first.status_code == again.status_code == 202
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert await stored(live_server) == 3
        # the same key for another request is refused; a new key, or no key, is a new request
        other = await c.post("/api/v1/events", json=EV, headers=h)
        assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"
        assert (await c.post("/api/v1/events", json=EV, headers={"Idempotency-Key": "batch-0002"})).status_code == 202
        assert (await c.post("/api/v1/events", json=EV)).status_code == 202
        assert (await c.post("/api/v1/events", json=EV, headers={"Idempotency-Key": "k" * 256})).status_code == 400
    # keys are per API key: another client's "batch-0001" is its own
    async with live_server.client(live_server.admin_key) as c:
        r = await c.post("/api/v1/events", json=[EV, EV, EV], headers=h)
        assert r.status_code == 202 and r.json()["ids"] != first.json()["ids"]
    assert await stored(live_server) == 8


async def test_wait_answers_are_replayed_with_their_outcomes(live_server: LiveServer) -> None:
    async with live_server.client(live_server.write_key) as c:
        h = {"Idempotency-Key": "w-1"}
        first = await c.post("/api/v1/events", params={"wait": "true"}, json=[EV, EV], headers=h)
        assert first.status_code == 200
        again = await c.post("/api/v1/events", params={"wait": "true"}, json=[EV, EV], headers=h)
        assert again.status_code == 200 and again.json() == first.json()
        assert [x["outcome"] for x in again.json()["results"]] == ["created", "deduplicated"]
        # wait=false with the same key is another request
        assert (await c.post("/api/v1/events", json=[EV, EV], headers=h)).status_code == 422
    assert await stored(live_server) == 2


async def test_concurrent_duplicates_store_once(live_server: LiveServer) -> None:
    async with live_server.client(live_server.write_key) as c:
        h = {"Idempotency-Key": "dup"}
        rs = await asyncio.gather(*(c.post("/api/v1/events", json=[EV] * 50, headers=h) for _ in range(5)))
    assert {r.status_code for r in rs} <= {202, 409}
    assert len({tuple(r.json()["ids"]) for r in rs if r.status_code == 202}) == 1
    assert await stored(live_server) == 50


async def test_keys_expire_after_the_configured_time(settings_factory: Any) -> None:
    async with start_live_server(settings_factory(idempotency_ttl_s=0.3)) as server, \
            server.client(server.write_key) as c:
        h = {"Idempotency-Key": "short-lived"}
        first = await c.post("/api/v1/events", json=EV, headers=h)
        await asyncio.sleep(0.5)
        later = await c.post("/api/v1/events", json=EV, headers=h)
        assert later.status_code == 202 and later.json()["ids"] != first.json()["ids"]
        assert "idempotent-replayed" not in later.headers
        assert await stored(server) == 2


async def test_alertmanager_and_webhook_intakes_honour_the_key(settings_factory: Any, tmp_path: Path) -> None:
    for name in ("prometheus", "grafana"):
        shutil.copytree(REPO / "addons" / name, tmp_path / "addons" / name)
    am = [{"labels": {"alertname": "Down", "instance": "rtr1"}}]
    async with start_live_server(settings_factory(addons_dir=tmp_path / "addons")) as server, \
            server.client(server.write_key) as c:
        for path in ("/api/v2/alerts",):
            h = {"Idempotency-Key": "am-1"}
            first = await c.post(path, json=am, headers=h)
            again = await c.post(path, json=am, headers=h)
            assert first.status_code == again.status_code == 200, first.text
            assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        hook = {"version": "4", "receiver": "oc", "status": "firing",
                "alerts": [{"status": "firing", "labels": am[0]["labels"]}]}
        h = {"Idempotency-Key": "hook-1"}
        first = await c.post("/api/v1/webhooks/prometheus", json=hook, headers=h)
        again = await c.post("/api/v1/webhooks/prometheus", json=hook, headers=h)
        assert first.status_code == again.status_code == 202, first.text
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        assert await stored(server) == 2


async def test_two_server_processes_run_a_key_once(settings_factory: Any) -> None:
    """Concurrent duplicates sent to two servers on one database (``workers: 2``; two runtimes
    have two engines, so to the database they are two processes): one stores, the others get a
    409 or the first answer, and a retry to either server gets the first answer."""
    settings = settings_factory(workers=2)
    async with start_live_server(settings) as a, start_live_server(settings) as b, \
            a.client(a.write_key) as ca, b.client(a.write_key) as cb:  # one API key, shared by the database
        h = {"Idempotency-Key": "across"}
        rs = await asyncio.gather(*((ca if i % 2 else cb).post("/api/v1/events", json=[EV] * 50, headers=h)
                                    for i in range(8)))
        assert {r.status_code for r in rs} <= {202, 409}, [r.text for r in rs]
        assert any(r.status_code == 409 for r in rs)
        first = {tuple(r.json()["ids"]) for r in rs if r.status_code == 202}
        assert len(first) == 1
        assert await stored(a) == 50
        for c in (ca, cb):
            again = await c.post("/api/v1/events", json=[EV] * 50, headers=h)
            assert again.status_code == 202 and tuple(again.json()["ids"]) in first
            assert again.headers["idempotent-replayed"] == "true"
        # a request that stores nothing (refused) leaves the key free for its corrected retry
        bad = await ca.post("/api/v1/events", json=[{"resource": "r"}], headers={"Idempotency-Key": "fixed"})
        assert bad.status_code == 422
        good = await cb.post("/api/v1/events", json=[EV], headers={"Idempotency-Key": "fixed"})
        assert good.status_code == 202, good.text
        assert await stored(a) == 51
