"""Delivery semantics through the real server: retries, Retry-After, timeouts, max age, isolation."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.notify.conftest import NotifyServer, eventually
from tests.notify.support import JiraFake, WebhookSink, serving
from tests.support.server import LiveServer

EV = {"resource": "rtr1.ams", "event": "link_down", "component": "ge-0/0/1", "severity": "major"}
TIMING = 'group_by: ["..."]\n  group_wait: 0s\n  group_interval: 0s'


async def rows(srv: LiveServer, **query: Any) -> list[dict[str, Any]]:
    async with srv.client(srv.read_key) as c:
        r = await c.get("/api/v1/notifications", params=query)
        assert r.status_code == 200, r.text
        result: list[dict[str, Any]] = r.json()["notifications"]
        return result


async def send(srv: LiveServer, *events: dict[str, Any]) -> list[int]:
    async with srv.client(srv.write_key) as c:
        r = await c.post("/api/v1/events?wait=true", json=list(events))
        assert r.status_code == 200, r.text
        return [x["alert_id"] for x in r.json()["results"]]


async def test_failing_twice_then_succeeding_makes_one_ticket(notify_server: NotifyServer) -> None:
    jira = JiraFake()
    jira.script = [(503, {}, b"busy")]  # attempt 1: refused before creating
    jira.lose_create_answers = 1  # attempt 2: created, but the answer is lost
    cfg = f"""
receivers:
  tickets: {{kind: jira, url: "{{url}}", user: bot@example.com, token: jira-token, project: NET,
            create_retry_delay: 0.5s}}
route:
  receiver: tickets
  {TIMING}
"""
    async with serving(jira), notify_server(cfg.replace("{url}", jira.url)) as srv:
        (alert_id,) = await send(srv, EV)
        await eventually(lambda: jira.issues and len(jira.requests) >= 4)
        (n,) = await eventually(lambda: rows(srv, alert_id=alert_id, status="sent"))
        assert n["attempts"] == 3
        async with srv.client(srv.write_key) as c:
            await c.post(f"/api/v1/alerts/{alert_id}/ack", json={})
        await eventually(lambda: any(i["comments"] for i in jira.issues.values()))
    assert list(jira.issues) == ["NET-1"]
    assert jira.issues["NET-1"]["comments"][0].startswith("acknowledged")


async def test_429_retry_after_is_honoured(notify_server: NotifyServer) -> None:
    sink = WebhookSink()
    sink.script = [(429, {"Retry-After": "1"}, b"slow down")]
    cfg = f'receivers:\n  hook: {{kind: webhook, url: "{{url}}/h"}}\nroute:\n  receiver: hook\n  {TIMING}\n'
    async with serving(sink), notify_server(cfg.replace("{url}", sink.url)) as srv:
        await send(srv, EV)
        await sink.wait_for(1)
        (pending,) = await eventually(lambda: rows(srv, status="pending"))
        assert pending["last_status_code"] == 429 and pending["attempts"] == 1
        t0 = time.monotonic()
        await sink.wait_for(2, within=5)
        waited = time.monotonic() - t0
    assert 0.7 < waited < 3.0  # retry base is 0.05 s: only Retry-After explains a ~1 s wait
    assert len(sink.accepted) == 1


async def test_hanging_receiver_times_out_and_does_not_slow_the_others(notify_server: NotifyServer) -> None:
    slow, fast = WebhookSink(), WebhookSink()
    slow.hang = True
    cfg = f"""
receivers:
  slow: {{kind: webhook, url: "{{slow}}/h", timeout: 2s, concurrency: 2}}
  fast: {{kind: webhook, url: "{{fast}}/h"}}
route:
  receiver: fast
  {TIMING}
  routes:
    - receiver: slow
      continue: true
    - receiver: fast
"""
    async with serving(slow), serving(fast):
        cfg = cfg.replace("{slow}", slow.url).replace("{fast}", fast.url)
        async with notify_server(cfg) as srv:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            await send(srv, *({**EV, "resource": f"r{i}"} for i in range(10)))
            await fast.wait_for(10, within=5)
            fast_done = loop.time() - t0
            await slow.wait_for(2)

            async def timed_out() -> bool:
                return any("timeout after 2s" in (r["last_error"] or "")
                           for r in await rows(srv, receiver="slow", status="pending"))

            await eventually(timed_out, within=8)
    assert fast_done < 1.5  # well before slow's 2 s timeout: its hanging slots held nothing of fast's


async def test_client_error_is_final_and_retry_api_requeues(notify_server: NotifyServer) -> None:
    sink = WebhookSink()
    sink.script = [(400, {}, b"bad field")]
    cfg = f'receivers:\n  hook: {{kind: webhook, url: "{{url}}/h"}}\nroute:\n  receiver: hook\n  {TIMING}\n'
    async with serving(sink), notify_server(cfg.replace("{url}", sink.url)) as srv:
        await send(srv, EV)
        (dead,) = await eventually(lambda: rows(srv, status="dead"))
        assert dead["attempts"] == 1 and "HTTP 400: bad field" in dead["last_error"]
        async with srv.client(srv.write_key) as c:
            r = await c.post(f"/api/v1/notifications/{dead['id']}/retry")
            assert r.status_code == 200 and r.json()["status"] == "pending"
            await eventually(lambda: rows(srv, status="sent"))
            assert (await c.post(f"/api/v1/notifications/{dead['id']}/retry")).status_code == 409
            assert (await c.post("/api/v1/notifications/99999/retry")).status_code == 404
    assert len(sink.accepted) == 1


async def test_max_age_then_dead_with_last_error(notify_server: NotifyServer) -> None:
    sink = WebhookSink()
    sink.script = [(503, {}, b"down")] * 100
    cfg = (f'receivers:\n  hook: {{kind: webhook, url: "{{url}}/h", max_age: 0.5s}}\n'
           f'route:\n  receiver: hook\n  {TIMING}\n')
    async with serving(sink), notify_server(cfg.replace("{url}", sink.url)) as srv:
        await send(srv, EV)
        (dead,) = await eventually(lambda: rows(srv, status="dead"))
    assert dead["attempts"] >= 2 and dead["last_error"].startswith("gave up after max_age: HTTP 503")


async def test_follow_up_waits_for_the_retried_create(notify_server: NotifyServer) -> None:
    jira = JiraFake()
    jira.script = [(503, {}, b"busy"), (503, {}, b"busy")]  # search fails twice: the create is retried
    cfg = f"""
receivers:
  tickets: {{kind: jira, url: "{{url}}", user: bot@example.com, token: jira-token, project: NET}}
route:
  receiver: tickets
  {TIMING}
"""
    async with serving(jira), notify_server(cfg.replace("{url}", jira.url), notify_retry_base_s=0.3) as srv:
        (alert_id,) = await send(srv, EV)
        async with srv.client(srv.write_key) as c:
            await c.post(f"/api/v1/alerts/{alert_id}/ack", json={})  # due now, while the create waits to retry
        await eventually(lambda: jira.issues and jira.issues["NET-1"]["comments"], within=10)

        async def both_sent() -> list[dict[str, Any]] | None:
            got = await rows(srv, alert_id=alert_id, status="sent")
            return got if len(got) == 2 else None

        sent = await eventually(both_sent)
    assert sorted(n["transition"] for n in sent) == ["acknowledged", "firing"]
    assert list(jira.issues) == ["NET-1"]
