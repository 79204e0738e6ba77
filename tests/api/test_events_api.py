"""POST /api/v1/events: durable accept, wait mode, and every kind of bad input (nothing half-written)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from opsconductor.store.alert_writer import EVENTS
from tests.support.server import LiveServer

EV = {"resource": "rtr1.ams", "event": "link_down", "component": "ge-0/0/1", "severity": "major"}


async def event_count(server: LiveServer) -> int:
    async with server.runtime.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(EVENTS))).scalar_one())


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"].startswith("https://")
    return body


async def test_accepts_single_object_and_array_and_returns_ids(live_server: LiveServer) -> None:
    async with live_server.client(live_server.write_key) as c:
        r1 = await c.post("/api/v1/events", json=EV)
        r2 = await c.post("/api/v1/events", json=[EV, {**EV, "component": "ge-0/0/2"}])
    assert r1.status_code == 202 and r1.json()["accepted"] == 1
    assert r2.status_code == 202 and r2.json()["accepted"] == 2
    assert r2.json()["ids"][0] > r1.json()["ids"][0]
    assert await event_count(live_server) == 3


async def test_wait_returns_outcome_per_event(live_server: LiveServer) -> None:
    clear = {**EV, "severity": "clear", "event": "link_down"}
    async with live_server.client(live_server.write_key) as c:
        r = await c.post("/api/v1/events", params={"wait": "true"},
                         json=[EV, EV, {**EV, "severity": "critical"}, clear, clear])
    assert r.status_code == 200
    res = r.json()["results"]
    assert [x["outcome"] for x in res] == ["created", "deduplicated", "updated", "resolved", "ignored"]
    assert len({x["alert_id"] for x in res[:4]}) == 1 and res[4]["alert_id"] is None


@pytest.mark.parametrize(
    ("body", "status", "fields"),
    [
        (b"{not json", 400, None),
        (b"", 400, None),
        (b'"a string"', 422, ["(root)"]),
        (b"[]", 422, ["(root)"]),
        (json.dumps([EV, {**EV, "severity": "disaster"}]).encode(), 422, [(1, "severity")]),
        (json.dumps([{**EV, "colour": "red"}]).encode(), 422, [(0, "colour")]),
        (json.dumps([{"event": "x"}, {**EV, "labels": {"a": 1}}]).encode(), 422, [(0, "resource"), (1, "labels.a")]),
        (json.dumps({**EV, "resource": 42}).encode(), 422, ["resource"]),
        (json.dumps({**EV, "occurred_at": "yesterday"}).encode(), 422, ["occurred_at"]),
        (json.dumps({**EV, "occurred_at": "2026-01-01T00:00:00"}).encode(), 422, ["occurred_at"]),
        (json.dumps({**EV, "raw": "x" * 20_000}).encode(), 422, ["raw"]),
    ],
    ids=["malformed", "empty", "not-object", "empty-array", "bad-severity", "unknown-field", "missing-and-type",
         "wrong-type", "bad-time", "naive-time", "raw-too-big"],
)
async def test_bad_input_is_a_problem_and_nothing_is_written(
    live_server: LiveServer, body: bytes, status: int, fields: list[Any] | None
) -> None:
    async with live_server.client(live_server.write_key) as c:
        r = await c.post("/api/v1/events", content=body, headers={"content-type": "application/json"})
    problem = assert_problem(r, status)
    if fields:
        got = [(e["index"], e["field"]) if "index" in e else e["field"] for e in problem["errors"]]
        for f in fields:
            assert f in got, problem
    assert await event_count(live_server) == 0


async def test_too_many_events_and_oversized_body_are_refused(settings_factory) -> None:  # type: ignore[no-untyped-def]
    from tests.support.server import start_live_server

    async with start_live_server(settings_factory(max_body_bytes=200_000)) as server:
        async with server.client(server.write_key) as c:
            r = await c.post("/api/v1/events", json=[{"resource": "r", "event": "e"}] * 10_001)
            assert_problem(r, 413)
            big = [{"resource": f"r{i}", "event": "e"} for i in range(5000)]  # < 200 kB
            r = await c.post("/api/v1/events", json=big[:10])
            assert r.status_code == 202
        assert await event_count(server) == 10
    async with start_live_server(settings_factory(max_events_per_request=100)) as server:
        async with server.client(server.write_key) as c:
            r = await c.post("/api/v1/events", json=[{"resource": "r", "event": "e"}] * 101)
        assert "too many events" in assert_problem(r, 422)["detail"]
        assert await event_count(server) == 10  # the same database: only the first server's 10


async def test_ten_thousand_events_in_one_request_are_accepted(live_server: LiveServer) -> None:
    events = [{"resource": f"r{i % 100}", "event": "cpu_high", "value": i} for i in range(10_000)]
    async with live_server.client(live_server.write_key) as c:
        r = await c.post("/api/v1/events", json=events)
        assert r.status_code == 202 and r.json()["accepted"] == 10_000
        r = await c.post("/api/v1/events", json=[*events, events[0]])
        assert_problem(r, 422)
    assert await event_count(live_server) == 10_000


async def test_auth_missing_wrong_and_insufficient_scope(live_server: LiveServer) -> None:
    async with live_server.client() as c:
        assert_problem(await c.post("/api/v1/events", json=EV), 401)
    async with live_server.client("opsc_not-a-real-key") as c:
        assert_problem(await c.post("/api/v1/events", json=EV), 401)
    async with live_server.client(live_server.read_key) as c:
        body = assert_problem(await c.post("/api/v1/events", json=EV), 403)
        assert "write" in body["detail"]
    assert await event_count(live_server) == 0
