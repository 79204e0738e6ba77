"""Hot reload: a file change (watchfiles) or SIGHUP swaps in the new rules; no event is lost meanwhile."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from opsconductor.correlate.service import RulesService
from tests.support.server import start_live_server

NEW_RULE = ("rules:\n  - id: drop-test-gear\n    when: {labels.role: test}\n    drop: true\n"
            "tests:\n  - name: test gear is dropped\n"
            "    input: [{at: 0s, event: {resource: t1, event: e, labels: {role: test}}}]\n"
            "    expect: [{alerts: []}]\n")


async def _wait_version_change(svc: RulesService, old: str) -> None:
    for _ in range(300):  # up to 15 s
        if svc.correlator.version != old:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the rules were not reloaded")


async def test_file_change_reloads_without_losing_events(settings_factory, rules_dir: Path) -> None:  # type: ignore[no-untyped-def]
    settings = settings_factory(rules_dir=rules_dir, rules_watch=True)
    async with start_live_server(settings) as server:
        svc = server.runtime.rules
        assert isinstance(svc, RulesService)
        old = svc.correlator.version
        async with server.client(server.write_key) as c:
            sent: list[int] = []
            (rules_dir / "60-test-gear.yaml").write_text(NEW_RULE)
            # keep sending while the reload happens: every event gets exactly one outcome
            while svc.correlator.version == old and len(sent) < 4000:
                r = await c.post("/api/v1/events", json=[{"resource": f"r{len(sent) + i}", "event": "link_down",
                                                          "component": "ge-0/0/1"} for i in range(20)])
                sent += r.json()["ids"]
                await asyncio.sleep(0.02)
            await _wait_version_change(svc, old)
            done = await server.runtime.pipeline.wait_results(sent, 30)
            assert len(done) == len(sent)
            assert {d.outcome.value for d in done.values()} == {"created"}
            r = await c.post("/api/v1/events", params={"wait": "true"},
                             json={"resource": "t1", "event": "e", "labels": {"role": "test"}})
            assert r.json()["results"][0]["outcome"] == "dropped"


async def test_sighup_reloads(settings_factory, rules_dir: Path) -> None:  # type: ignore[no-untyped-def]
    settings = settings_factory(rules_dir=rules_dir, rules_watch=False)
    async with start_live_server(settings) as server:
        svc = server.runtime.rules
        assert isinstance(svc, RulesService)
        old = svc.correlator.version
        (rules_dir / "60-test-gear.yaml").write_text(NEW_RULE)
        await asyncio.sleep(0.3)
        assert svc.correlator.version == old  # no watcher: nothing happens by itself
        os.kill(os.getpid(), signal.SIGHUP)
        await _wait_version_change(svc, old)
        assert "drop-test-gear" in [r.id for r in svc.correlator.current.ruleset.rules]
