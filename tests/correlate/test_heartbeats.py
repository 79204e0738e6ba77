"""Heartbeats: the rule form (an always-firing Watchdog) in rule tests, the API end to end,
and events carrying their own timeout."""

from __future__ import annotations

import asyncio
from pathlib import Path

from opsconductor.correlate.install import expire_heartbeats_now
from opsconductor.correlate.loader import load_ruleset
from opsconductor.correlate.service import compile_ruleset
from opsconductor.correlate.testing import RuleTestRunner
from tests.correlate.test_api_e2e import send
from tests.support.server import LiveServer, start_live_server

RULES = """
rules:
  - id: prometheus-watchdog
    when: {event: Watchdog}
    heartbeat: {timeout: 5m, origin: "{labels.prometheus}"}
tests:
  - name: a silent Watchdog pages; its return resolves
    input:
      - {at: 0s, event: {resource: prom1, event: Watchdog, labels: {prometheus: prom-ams}}}
      - {at: 4m, event: {resource: prom1, event: Watchdog, labels: {prometheus: prom-ams}}}
      - {at: 12m, event: {resource: prom1, event: Watchdog, labels: {prometheus: prom-ams}}}
    expect:
      - at: 8m
        alerts: []
      - at: 9m
        alerts:
          - {resource: prom-ams, event: heartbeat_missing, status: active, severity: major,
             labels: {prometheus: prom-ams}}
      - at: 12m
        alerts:
          - {resource: prom-ams, event: heartbeat_missing, status: resolved}
"""


async def test_heartbeat_rule_test(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    f.write_text(RULES)
    rs, errors = load_ruleset([f])
    assert errors == []
    results = await RuleTestRunner(compile_ruleset(rs)).run(list(rs.tests))
    assert [r.report() for r in results if not r.ok] == []


def test_heartbeat_rule_errors(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    f.write_text("rules:\n  - id: hb\n    when: {event: Watchdog}\n    heartbeat: {timeout: soon, origin: '{nope}'}\n"
                 "  - id: hb2\n    heartbeat: {timeout: 1m}\n")
    _, errors = load_ruleset([f])
    text = sorted(str(e) for e in errors)
    assert any(t.startswith(f"{f}:4:17: invalid duration") for t in text), text
    assert any("template field {nope} is not a field" in t for t in text), text
    assert any(t.startswith(f"{f}:5:5: a heartbeat rule needs 'when'") for t in text), text


async def test_heartbeat_api_expires_and_recovers(rules_server: LiveServer) -> None:
    rt = rules_server.runtime
    async with rules_server.client(rules_server.write_key) as c:
        r = await c.post("/api/v1/heartbeats", json={"origin": "collector-7", "timeout": 1, "labels": {"site": "ams"}})
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "ok" and r.json()["recovered"] is False
        assert await expire_heartbeats_now(rt) == 0  # not yet due
        await asyncio.sleep(1.1)
        hb = (await c.get("/api/v1/heartbeats")).json()["heartbeats"]
        assert [(h["origin"], h["status"]) for h in hb] == [("collector-7", "expired")]
        await expire_heartbeats_now(rt)  # the loop may have claimed it already: then this is 0
        await rt.pipeline.drain()
        (a,) = (await c.get("/api/v1/alerts", params={"event": "heartbeat_missing"})).json()["alerts"]
        assert (a["resource"], a["status"], a["labels"]["site"]) == ("collector-7", "active", "ams")
        assert await expire_heartbeats_now(rt) == 0  # one page per silence
        r = await c.post("/api/v1/heartbeats", json={"origin": "collector-7", "timeout": 60})
        assert r.json()["recovered"] is True and r.json()["status"] == "ok"
        await rt.pipeline.drain()
        assert (await c.get(f"/api/v1/alerts/{a['id']}")).json()["status"] == "resolved"
        # bad input: problem bodies, nothing written
        for body in ({"origin": "", "timeout": 5}, {"origin": "x", "timeout": 0}, {"origin": "x", "colour": 1}):
            r = await c.post("/api/v1/heartbeats", json=body)
            assert r.status_code in (400, 422) and r.headers["content-type"].startswith("application/problem+json")
        assert len((await c.get("/api/v1/heartbeats")).json()["heartbeats"]) == 1
    async with rules_server.client(rules_server.read_key) as c:
        assert (await c.post("/api/v1/heartbeats", json={"origin": "y"})).status_code == 403


async def test_event_carries_its_own_timeout(rules_server: LiveServer) -> None:
    async with rules_server.client(rules_server.write_key) as c:
        (r,) = await send(c, {"resource": "ups1", "event": "on_battery", "severity": "major", "timeout": 120})
        a = (await c.get(f"/api/v1/alerts/{r['alert_id']}")).json()
        assert a["timeout"] == 120
        bad = await c.post("/api/v1/events", json=[{"resource": "ups1", "event": "x", "timeout": 0}])
        assert bad.status_code == 422


async def test_heartbeat_rule_end_to_end(settings_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A Watchdog through the running server feeds the heartbeat; none opens an alert; silence pages."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "hb.yaml").write_text(RULES.split("tests:")[0].replace("timeout: 5m", "timeout: 1s"))
    settings = settings_factory(rules_dir=rules, rules_watch=False, heartbeat_check_interval_s=0.2)
    async with start_live_server(settings) as srv, srv.client(srv.write_key) as c:
        (r,) = await send(c, {"resource": "prom1", "event": "Watchdog", "labels": {"prometheus": "prom-fra"}})
        assert r["outcome"] == "dropped" and r["alert_id"] is None
        (hb,) = (await c.get("/api/v1/heartbeats")).json()["heartbeats"]
        assert (hb["origin"], hb["created_by"], hb["timeout"]) == ("prom-fra", "rule:prometheus-watchdog", 1)
        deadline = asyncio.get_running_loop().time() + 15
        found: list[dict[str, object]] = []
        while not found and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)
            found = (await c.get("/api/v1/alerts", params={"event": "heartbeat_missing"})).json()["alerts"]
        assert [(a["resource"], a["status"]) for a in found] == [("prom-fra", "active")]
        await send(c, {"resource": "prom1", "event": "Watchdog", "labels": {"prometheus": "prom-fra"}})
        await srv.runtime.pipeline.drain()
        assert (await c.get(f"/api/v1/alerts/{found[0]['id']}")).json()["status"] == "resolved"
