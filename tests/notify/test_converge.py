"""Convergent multi-step deliveries: a lost answer or a kill -9 during any step never repeats a step.

Jira (create -> comment -> transition) and ServiceNow (create -> PATCH) are played by local fakes of
their documented APIs; the server is the real one, in this process (lost answers) or as a child
process killed with SIGKILL while a step's request is in flight.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.notify.conftest import NotifyServer, eventually
from tests.notify.support import FakeService, JiraFake, ServiceNowFake, serving
from tests.notify.test_reliability import TIMING, rows, send
from tests.support.process import ServerProcess

pytestmark = pytest.mark.faults

EV = {"resource": "rtr1.ams", "event": "link_down", "component": "ge-0/0/1", "severity": "major"}
JIRA = """
receivers:
  tickets: {{kind: jira, url: "{url}", user: bot@example.com, token: jira-token, project: NET,
            create_retry_delay: {delay}}}
route:
  receiver: tickets
  {timing}
"""
SNOW = """
receivers:
  itsm: {{kind: servicenow, url: "{url}", user: svc, password: pw}}
route:
  receiver: itsm
  {timing}
"""


async def _act(srv_url: str, key: str, alert_id: int, action: str) -> None:
    async with httpx.AsyncClient(base_url=srv_url, headers={"Authorization": f"Bearer {key}"}) as c:
        r = await c.post(f"/api/v1/alerts/{alert_id}/{action}", json={})
        assert r.status_code == 200, r.text


async def test_resolve_whose_answer_was_lost_is_delivered_with_one_comment(notify_server: NotifyServer) -> None:
    jira = JiraFake()
    jira.lose_answers["transition"] = 1  # the issue is Done, but the answer is a 504
    async with serving(jira), notify_server(JIRA.format(url=jira.url, delay="1s", timing=TIMING)) as srv:
        (alert_id,) = await send(srv, EV)
        await eventually(lambda: rows(srv, status="sent"))
        await _act(srv.url, srv.write_key, alert_id, "resolve")

        async def both_sent() -> bool:
            return len(await rows(srv, alert_id=alert_id, status="sent")) == 2

        await eventually(both_sent)
        resolved = next(n for n in await rows(srv, alert_id=alert_id) if n["transition"] == "resolved")
    assert resolved["attempts"] == 2  # the retry read the status (Done) instead of giving up
    assert list(jira.issues) == ["NET-1"] and jira.issues["NET-1"]["status"] == "Done"
    assert len(jira.issues["NET-1"]["comments"]) == 1


async def test_comment_whose_answer_was_lost_is_not_posted_twice(notify_server: NotifyServer) -> None:
    jira = JiraFake()
    jira.lose_answers["comment"] = 1
    async with serving(jira), notify_server(JIRA.format(url=jira.url, delay="1s", timing=TIMING)) as srv:
        (alert_id,) = await send(srv, EV)
        await eventually(lambda: rows(srv, status="sent"))
        await _act(srv.url, srv.write_key, alert_id, "ack")

        async def both_sent() -> bool:
            return len(await rows(srv, alert_id=alert_id, status="sent")) == 2

        await eventually(both_sent)
    comments = jira.issues["NET-1"]["comments"]
    assert len(comments) == 1 and comments[0].startswith("acknowledged")


async def test_servicenow_update_whose_answer_was_lost_writes_one_note(notify_server: NotifyServer) -> None:
    snow = ServiceNowFake()
    async with serving(snow), notify_server(SNOW.format(url=snow.url, timing=TIMING)) as srv:
        (alert_id,) = await send(srv, EV)
        await eventually(lambda: rows(srv, status="sent"))
        snow.script = []
        snow.hang_after["update"] = 1  # applied, then no answer: the 10 s timeout is too slow here
        srv.runtime.notify.senders["itsm"].cfg = _with_timeout(
            srv.runtime.notify.senders["itsm"].cfg, 1.0)
        await _act(srv.url, srv.write_key, alert_id, "ack")

        async def both_sent() -> bool:
            return len(await rows(srv, alert_id=alert_id, status="sent")) == 2

        await eventually(both_sent, within=15)
    (inc,) = snow.incidents.values()
    assert len(inc["work_notes_log"]) == 1 and inc["state"] == "2"


def _with_timeout(cfg: Any, timeout: float) -> Any:
    import dataclasses

    return dataclasses.replace(cfg, timeout=timeout)


# -- kill -9 during each step ------------------------------------------------------------------------
async def _settled(server: ServerProcess, key: str, n: int, within: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as c:
        while True:
            got: list[dict[str, Any]] = (await c.get("/api/v1/notifications")).json()["notifications"]
            if len(got) == n and all(r["status"] == "sent" for r in got):
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"not settled: {got}")
            await asyncio.sleep(0.1)


async def _crash_during(tmp_path: Path, fake: FakeService, config: str, follow_ups: list[str],
                        arm: Any, extra_env: dict[str, str] | None = None, settle_s: float = 30.0,
                        restart_after: float = 0.0) -> list[dict[str, Any]]:
    """Fire an alert, apply ``follow_ups``; ``arm()`` makes the fake hang after its step, and the server is
    killed as soon as that request arrived; then it restarts and must settle every notification."""
    notify_file = tmp_path / "notify.yaml"
    notify_file.write_text(config)
    server = ServerProcess(tmp_path / "srv", env={
        "OPSCONDUCTOR_NOTIFY_FILE": str(notify_file), "OPSCONDUCTOR_NOTIFY_RETRY_BASE_S": "0.05",
        **(extra_env or {})})
    try:
        await asyncio.to_thread(server.start)
        key = server.admin_key
        hang_on = arm()
        async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as c:
            r = await c.post("/api/v1/events?wait=true", json=[EV])
            assert r.status_code == 200, r.text
            alert_id = r.json()["results"][0]["alert_id"]
        if follow_ups:
            await _settled(server, key, 1, 20)
        for action in follow_ups:
            await _act(server.url, key, alert_id, action)
        await eventually(hang_on, within=20)
        await asyncio.sleep(0.2)  # the hanging request has been applied by the fake
        await asyncio.to_thread(server.kill9)
        await asyncio.sleep(restart_after)
        await asyncio.to_thread(server.start)
        return await _settled(server, key, 1 + len(follow_ups), settle_s)
    finally:
        await asyncio.to_thread(server.stop)


def _hangs(fake: FakeService, method: str, suffix: str) -> Any:
    start = len(fake.requests)
    return lambda: any(r.method == method and r.path.endswith(suffix) for r in fake.requests[start:])


@pytest.mark.parametrize("step", ["create", "comment", "transition"])
async def test_jira_kill_9_during_each_step_converges(tmp_path: Path, step: str) -> None:
    jira = JiraFake()
    follow_ups = {"create": [], "comment": ["ack"], "transition": ["ack", "resolve"]}[step]

    def arm() -> Any:
        if step == "create":
            jira.hang_after_create = 1
            return _hangs(jira, "POST", "/issue")
        if step == "comment":
            jira.hang_after["comment"] = 1
            return _hangs(jira, "POST", "/comment")
        jira.hang_after["transition"] = 1
        return _hangs(jira, "POST", "/transitions")

    async with serving(jira):
        got = await _crash_during(tmp_path, jira, JIRA.format(url=jira.url, delay="1s", timing=TIMING),
                                  follow_ups, arm)
    assert sorted(n["transition"] for n in got) == sorted(["firing", *({"ack": "acknowledged",
                                                                         "resolve": "resolved"}[a]
                                                                        for a in follow_ups)])
    assert list(jira.issues) == ["NET-1"]
    issue = jira.issues["NET-1"]
    assert len(issue["comments"]) == len(follow_ups)  # one per follow-up, never two
    assert issue["status"] == ("Done" if step == "transition" else "To Do")


@pytest.mark.parametrize("step", ["create", "ack", "resolve"])
async def test_servicenow_kill_9_during_each_step_converges(tmp_path: Path, step: str) -> None:
    snow = ServiceNowFake()
    follow_ups = {"create": [], "ack": ["ack"], "resolve": ["ack", "resolve"]}[step]

    def arm() -> Any:
        if step == "create":
            snow.hang_after["create"] = 1
            return _hangs(snow, "POST", "/incident")
        if step == "ack":
            snow.hang_after["update"] = 1
            return _hangs(snow, "PATCH", "")
        snow.hang_after["resolve"] = 1
        return lambda: any(r.method == "PATCH" and r.json().get("state") == "6" for r in snow.requests)

    async with serving(snow):
        got = await _crash_during(tmp_path, snow, SNOW.format(url=snow.url, timing=TIMING), follow_ups, arm)
    assert len(got) == 1 + len(follow_ups)
    assert len(snow.incidents) == 1
    (inc,) = snow.incidents.values()
    assert len(inc["work_notes_log"]) == len(follow_ups)  # one note per follow-up, never two
    assert inc["state"] == {"create": "1", "ack": "2", "resolve": "6"}[step]


async def test_jira_search_lag_30s_with_restart_in_5s_makes_one_issue(tmp_path: Path) -> None:
    """Jira Cloud's search lags (here 30 s); the server dies right after sending the create and is back in
    5 s. The create's time was recorded, so the restarted server waits create_retry_delay from it."""
    jira = JiraFake()
    jira.search_lag = 30.0

    def arm() -> Any:
        jira.hang_after_create = 1
        return _hangs(jira, "POST", "/issue")

    async with serving(jira):
        t0 = time.monotonic()
        got = await _crash_during(tmp_path, jira, JIRA.format(url=jira.url, delay="32s", timing=TIMING), [], arm,
                                  settle_s=60, restart_after=5.0)
        took = time.monotonic() - t0
    assert [n["transition"] for n in got] == ["firing"]
    assert list(jira.issues) == ["NET-1"]  # the search found it after the lag: no second issue
    assert took >= 30
