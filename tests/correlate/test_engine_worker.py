"""The engine runs in a worker process: killing it mid-stream loses no event and counts none twice."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from opsconductor.correlate.service import RulesService
from opsconductor.store.alert_writer import ALERTS, EVENTS
from tests.support.server import LiveServer


@pytest.mark.faults
async def test_killing_the_engine_worker_loses_no_event(rules_server: LiveServer) -> None:
    rt = rules_server.runtime
    svc = rt.rules
    assert isinstance(svc, RulesService)
    first_pid = svc.worker_pid
    assert first_pid is not None and first_pid != os.getpid()
    # Distinct sites make every event a new shape, so every batch reaches the engine (no memo hits).
    per_alert, alerts = 20, 30
    events = [{"resource": f"sw{a}.ams", "event": "link_down", "component": "ge-0/0/1", "severity": "major",
               "labels": {"site": f"site-{a}-{n}"}} for n in range(per_alert) for a in range(alerts)]
    async with rules_server.client(rules_server.write_key) as c:
        killed = False
        for i in range(0, len(events), 50):
            r = await c.post("/api/v1/events", json=events[i : i + 50])
            assert r.status_code == 202
            if not killed and i >= 200:
                os.kill(first_pid, signal.SIGKILL)
                killed = True
        deadline = asyncio.get_running_loop().time() + 60
        while asyncio.get_running_loop().time() < deadline:
            async with rt.db.read() as conn:
                left = (await conn.execute(select(func.count()).select_from(EVENTS)
                                           .where(EVENTS.c.processed == False))).scalar_one()  # noqa: E712
            if left == 0:
                break
            await asyncio.sleep(0.1)
    assert left == 0
    assert svc.worker_pid not in (None, first_pid), "the worker was restarted"
    async with rt.db.read() as conn:
        rows = (await conn.execute(select(ALERTS.c.resource, ALERTS.c.duplicate_count))).all()
    # every event counted exactly once: one alert per interface, per_alert - 1 duplicates each
    assert sorted(rows) == sorted((f"sw{a}.ams", per_alert - 1) for a in range(alerts))


async def test_reload_builds_a_fresh_worker_and_keeps_the_old_set_on_failure(rules_server: LiveServer,
                                                                             rules_dir: Path) -> None:
    svc = rules_server.runtime.rules
    assert isinstance(svc, RulesService)
    old_pid, old_version = svc.worker_pid, svc.correlator.version
    async with rules_server.client(rules_server.admin_key) as c:
        # a broken file: rejected with file:line:col, the running set stays
        (rules_dir / "50-bad.yaml").write_text("rules:\n  - id: x\n    when: {hostname: a}\n    drop: true\n")
        r = await c.post("/api/v1/rules/reload")
        assert r.status_code == 422
        assert r.json()["errors"] == [f"{rules_dir / '50-bad.yaml'}:3:12: unknown field 'hostname' "
                                      "(fields: resource, event, component, severity, source, summary, value "
                                      "or labels.<name>)"]
        status = (await c.get("/api/v1/rules/status")).json()
        assert status["live_version"] == old_version and status["last_reload"]["ok"] is False
        metrics = (await c.get("/metrics")).text
        assert 'opsconductor_rules_reloads_total{result="failed"} 1.0' in metrics
        # a valid file whose test fails: rejected too
        (rules_dir / "50-bad.yaml").write_text(
            "rules:\n  - id: drop-rtr9\n    when: {resource: rtr9}\n    drop: true\n"
            "tests:\n  - name: wrong on purpose\n    input: [{at: 0s, event: {resource: rtr9, event: e}}]\n"
            "    expect: [{alerts: [{resource: rtr9, status: active}]}]\n")
        r = await c.post("/api/v1/rules/reload")
        assert r.status_code == 422 and "wrong on purpose" in r.json()["test_failures"][0]
        assert svc.correlator.version == old_version and svc.worker_pid == old_pid
        # fixed: goes live in a new worker; the old worker is gone
        (rules_dir / "50-bad.yaml").write_text(
            "rules:\n  - id: drop-rtr9\n    when: {resource: rtr9}\n    drop: true\n"
            "tests:\n  - name: dropped\n    input: [{at: 0s, event: {resource: rtr9, event: e}}]\n"
            "    expect: [{alerts: []}]\n")
        r = await c.post("/api/v1/rules/reload")
        assert r.status_code == 200, r.text
        assert svc.correlator.version != old_version and svc.worker_pid != old_pid
        assert old_pid is not None
        await asyncio.sleep(0.2)
        try:
            os.kill(old_pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        assert not alive, "the old engine worker was stopped"
        r = await c.post("/api/v1/events", params={"wait": "true"}, json={"resource": "rtr9", "event": "e"})
        assert r.json()["results"][0]["outcome"] == "dropped"


def test_large_any_of_lists_are_sharded_so_the_engine_never_hangs() -> None:
    # 40 rules x 200 values: one shard would give a node > 512 children and hang ruleset creation.
    from opsconductor.correlate.compiler import compile_slots
    from opsconductor.correlate.matchers import Eq, Or
    from opsconductor.correlate.worker import EngineWorker
    from opsconductor.model.event import NormalizedEvent

    slots = [(i, Or(tuple(Eq("labels.code", f"c{i}-{v}") for v in range(200)))) for i in range(40)]
    cm = compile_slots(slots)
    assert len(cm.shards) >= 40 * 200 // 256
    worker = EngineWorker(cm.spec)  # raises Unavailable after START_TIMEOUT_S if it hangs
    try:
        ev = NormalizedEvent(resource="r", event="e", labels={"code": "c7-199"})
        assert worker.classify([cm.message(cm.encode(ev, []))]) == [[7]]
    finally:
        worker.close()


@pytest.mark.faults
def test_a_hung_engine_is_killed_and_replaced(monkeypatch: object) -> None:
    import pytest

    from opsconductor.correlate import worker as worker_mod
    from opsconductor.correlate.compiler import compile_slots
    from opsconductor.correlate.matchers import Eq
    from opsconductor.errors import Unavailable
    from opsconductor.model.event import NormalizedEvent

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setattr(worker_mod, "CLASSIFY_TIMEOUT_S", 1.0)
    cm = compile_slots([(0, Eq("event", "e"))])
    w = worker_mod.EngineWorker(cm.spec)
    msg = cm.message(cm.encode(NormalizedEvent(resource="r", event="e"), []))
    try:
        pid = w.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # a real hang: the process stops answering
        with pytest.raises(Unavailable):
            w.classify([msg])
        assert w.pid != pid and w.restarts == 1
        assert w.classify([msg]) == [[0]]
    finally:
        w.close()
