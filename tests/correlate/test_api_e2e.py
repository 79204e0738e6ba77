"""End to end through the REST API with the shipped rules: dedup, suppression with reasons,
re-activation, never-suppressed resolves, correlation, explain, silences, rules list/status."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.server import LiveServer


async def send(c: httpx.AsyncClient, *events: dict[str, Any]) -> list[dict[str, Any]]:
    r = await c.post("/api/v1/events", params={"wait": "true"}, json=list(events))
    assert r.status_code == 200, r.text
    return list(r.json()["results"])


async def alert(c: httpx.AsyncClient, alert_id: int) -> dict[str, Any]:
    r = await c.get(f"/api/v1/alerts/{alert_id}")
    assert r.status_code == 200
    return dict(r.json())


async def until(c: httpx.AsyncClient, alert_id: int, status: str) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + 10.0
    while True:
        a = await alert(c, alert_id)
        if a["status"] == status or asyncio.get_running_loop().time() > deadline:
            return a
        await asyncio.sleep(0.05)


async def test_dedup_pairing_and_resolve(rules_server: LiveServer) -> None:
    async with rules_server.client(rules_server.write_key) as c:
        down = {"resource": "rtr1.ams", "event": "link_down", "component": "ge-0/0/1", "severity": "major"}
        r1, r2 = await send(c, down, down)
        assert (r1["outcome"], r2["outcome"]) == ("created", "deduplicated")
        assert r1["alert_id"] == r2["alert_id"]
        (r3,) = await send(c, {"resource": "rtr1.ams", "event": "link_up", "component": "ge-0/0/1"})
        assert r3 == {"id": r3["id"], "alert_id": r1["alert_id"], "outcome": "resolved"}
        a = await alert(c, r1["alert_id"])
        assert (a["status"], a["severity"], a["duplicate_count"]) == ("resolved", "clear", 1)
        assert a["rule_id"] == "link-state"
        # a clear with no open problem creates nothing
        (r4,) = await send(c, {"resource": "rtr1.ams", "event": "link_up", "component": "ge-0/0/9"})
        assert r4["outcome"] == "ignored" and r4["alert_id"] is None


async def test_inhibition_reason_explain_and_reactivation(rules_server: LiveServer) -> None:
    async with rules_server.client(rules_server.write_key) as c:
        (dev,) = await send(c, {"resource": "sw1.ams", "event": "device_down", "severity": "critical"})
        (link,) = await send(c, {"resource": "sw1.ams", "event": "link_down", "component": "ge-0/0/1"})
        assert link["outcome"] == "suppressed"
        a = await alert(c, link["alert_id"])
        assert a["suppressed_reason"] == "inhibited by device_down on sw1.ams (rule device-down-hides-links)"
        ex = (await c.get(f"/api/v1/alerts/{link['alert_id']}/explain")).json()
        status = (await c.get("/api/v1/rules/status")).json()
        assert ex["ruleset_version"] == status["live_version"]
        stages = [t["stage"] for t in ex["trace"]]
        assert stages[:2] == ["ruleset", "match"] and "inhibit" in stages
        inhibit = next(t for t in ex["trace"] if t["stage"] == "inhibit")
        assert inhibit["rule"] == "device-down-hides-links" and f"alert {dev['alert_id']}" in inhibit["detail"]
        # the device comes back: the device alert resolves, the hidden link alert becomes active
        (up,) = await send(c, {"resource": "sw1.ams", "event": "device_up"})
        assert up["outcome"] == "resolved"
        a = await until(c, link["alert_id"], "active")
        assert a["status"] == "active" and a["suppressed_reason"] is None
        kinds = [h["text"] for h in a["history"]]
        assert any(t and t.startswith("suppression ended") for t in kinds)


async def test_silence_suppresses_open_alerts_and_never_a_resolve(rules_server: LiveServer) -> None:
    async with rules_server.client(rules_server.write_key) as c:
        (b,) = await send(c, {"resource": "bgp1.fra", "event": "bgp_down", "component": "peer-a", "severity": "major"})
        r = await c.post("/api/v1/silences", json={"matchers": {"resource": {"regex": "bgp\\d+\\.fra"}},
                                                   "duration": "1h", "comment": "CHG-42 upgrade"})
        assert r.status_code == 201, r.text
        sil = r.json()
        assert sil["state"] == "active" and sil["created_by"].startswith("test-write")
        a = await alert(c, b["alert_id"])
        assert (a["status"], a["suppressed_reason"]) == ("suppressed", f"silence {sil['id']}: CHG-42 upgrade")
        (b2,) = await send(c, {"resource": "bgp1.fra", "event": "bgp_down", "component": "peer-b"})
        assert b2["outcome"] == "suppressed"
        # ending the silence re-activates what still fires; the history keeps it
        r = await c.delete(f"/api/v1/silences/{sil['id']}")
        assert r.status_code == 200 and r.json()["state"] == "expired"
        assert (await alert(c, b["alert_id"]))["status"] == "active"
        listed = (await c.get("/api/v1/silences", params={"status": "expired"})).json()["silences"]
        assert [s["id"] for s in listed] == [sil["id"]]
        # a resolve is never suppressed, even under a silence
        r = await c.post("/api/v1/silences", json={"matchers": {"resource": "bgp1.fra"}, "duration": "1h",
                                                   "comment": "again"})
        assert r.status_code == 201
        (clear,) = await send(c, {"resource": "bgp1.fra", "event": "bgp_up", "component": "peer-a"})
        assert clear["outcome"] == "resolved"
        assert (await alert(c, b["alert_id"]))["status"] == "resolved"


async def test_silence_validation_is_a_problem_body(rules_server: LiveServer) -> None:
    async with rules_server.client(rules_server.write_key) as c:
        r = await c.post("/api/v1/silences", json={"matchers": {"hostname": "x", "resource": {"regex": "(a+)+"}},
                                                   "comment": "", "duration": "1h"})
        assert r.status_code == 422
        body = r.json()
        fields = {e["field"] for e in body["errors"]}
        assert {"matchers.hostname", "matchers.resource.regex", "comment"} <= fields
        assert (await c.delete("/api/v1/silences/999")).status_code == 404


async def test_site_isolation_raises_a_durable_parent(rules_server: LiveServer) -> None:
    async with rules_server.client(rules_server.write_key) as c:
        members = await send(c, *({"resource": f"r{i}.ams", "event": "device_down", "severity": "critical",
                                   "labels": {"site": "ams"}} for i in range(3)))
        deadline = asyncio.get_running_loop().time() + 10
        parents: list[dict[str, Any]] = []
        while not parents and asyncio.get_running_loop().time() < deadline:
            parents = (await c.get("/api/v1/alerts", params={"event": "site_isolated"})).json()["alerts"]
            await asyncio.sleep(0.05)
        assert [(p["resource"], p["severity"], p["status"]) for p in parents] == [("ams", "critical", "active")]
        for m in members:
            a = await until(c, m["alert_id"], "suppressed")
            assert a["suppressed_reason"] == "correlated into site_isolated on ams (rule site-isolation)"
        ex = (await c.get(f"/api/v1/alerts/{parents[0]['id']}/explain")).json()
        assert any(t["stage"] == "dedup" and t["rule"] == "site-isolation" for t in ex["trace"])


async def test_explain_has_no_side_effect(rules_server: LiveServer) -> None:
    async with rules_server.client(rules_server.read_key) as c:
        ev = {"resource": "wave1", "event": "los", "source": "ciena-mcp", "labels": {"mcp_severity": "MINOR"}}
        r = await c.post("/api/v1/rules/explain", json=ev)
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["severity"], body["outcome"], body["drop"]) == ("minor", "created", False)
        assert body["trace"][1] == {"stage": "match", "rules": ["ciena-severity"]}
        assert (await c.get("/api/v1/alerts/counts")).json()["total"] == 0
        r = await c.post("/api/v1/rules/explain", json={"resource": "x"})
        assert r.status_code == 422


async def test_rules_list_and_status(rules_server: LiveServer) -> None:
    async with rules_server.client(rules_server.read_key) as c:
        rules = (await c.get("/api/v1/rules")).json()
        ids = [r["id"] for r in rules["rules"]]
        assert ids[:3] == ["drop-lab", "ciena-severity", "juniper-syslog-severity"]
        first = rules["rules"][0]
        assert first["file"].endswith("10-severity.yaml") and first["line"] == 3 and first["kind"] == "drop"
        status = (await c.get("/api/v1/rules/status")).json()
        assert status["last_reload"]["ok"] is True and status["live_version"] == rules["version"]
        assert isinstance(status["engine_worker_pid"], int)


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_window_and_silence_end_by_time_reactivate(rules_server: LiveServer) -> None:
    # The server's clock is replaceable; the re-evaluation job (every 0.2 s here) follows it.
    clock = _Clock(datetime(2026, 1, 6, 0, 30, tzinfo=UTC))  # Tuesday 01:30 in Amsterdam
    rules_server.runtime.pipeline.clock = clock
    async with rules_server.client(rules_server.write_key) as c:
        (bak,) = await send(c, {"resource": "bak1.ams", "event": "device_down", "severity": "critical",
                                "labels": {"role": "backup"}})
        a = await alert(c, bak["alert_id"])
        assert (a["status"], a["suppressed_reason"]) == ("suppressed", "maintenance window nightly-backup-window")
        r = await c.post("/api/v1/silences", json={"matchers": {"resource": "sw5.ams"}, "duration": "30m",
                                                   "comment": "cabling"})
        assert r.status_code == 201
        (sw,) = await send(c, {"resource": "sw5.ams", "event": "device_down", "severity": "major"})
        assert sw["outcome"] == "suppressed"
        clock.now += timedelta(minutes=45)  # 02:15: the silence is over, the window is not
        a = await until(c, sw["alert_id"], "active")
        assert a["status"] == "active"
        assert (await alert(c, bak["alert_id"]))["status"] == "suppressed"
        clock.now += timedelta(hours=1)  # 03:15: the window is over
        a = await until(c, bak["alert_id"], "active")
        assert (a["status"], a["suppressed_reason"]) == ("active", None)
