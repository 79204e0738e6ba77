"""Self-alerts (source: opsconductor) through the normal path, and the /readyz truths; each resolves when fixed."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path
from typing import Any

from tests.notify.support import WebhookSink, serving
from tests.safety.support import eventually, self_alert_status, self_alerts
from tests.support.server import start_live_server

FAST = {"selfmon_interval_s": 0.1}
REPO = Path(__file__).resolve().parents[2]
BAD_RULE = ("rules:\n  - id: skew\n    when: {event: clock_skew}\n    dedup: {key: [resource]}\n"
            "    timeout: 100000000d\n")


async def test_quarantined_events_raise_a_self_alert_that_resolves_when_the_quarantine_is_empty(
    settings_factory: Any, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "skew.yaml").write_text(BAD_RULE)
    settings = settings_factory(rules_dir=rules, rules_watch=False, rules_engine_worker=False, **FAST)
    async with start_live_server(settings) as server, server.client(server.write_key) as c:
        await c.post("/api/v1/events", params={"wait": "true"},
                     json=[{"resource": "r1", "event": "e"}, {"resource": "r9", "event": "clock_skew"}])
        await eventually(lambda: self_alert_status(server, "event-quarantine", "events_quarantined"))
        row = (await self_alerts(server))[("event-quarantine", "events_quarantined")]
        assert row["status"] == "active" and row["severity"] == "major" and "1 events quarantined" in row["summary"]
        q = (await c.get("/api/v1/events/quarantine")).json()["quarantine"]
        assert (await c.delete(f"/api/v1/events/quarantine/{q[0]['id']}")).status_code == 204

        async def resolved() -> bool:
            return await self_alert_status(server, "event-quarantine", "events_quarantined") == "resolved"

        await eventually(resolved)


async def test_stalled_processing_makes_readyz_503_and_raises_a_self_alert_that_resolves(
    settings_factory: Any,
) -> None:
    async with start_live_server(settings_factory(selfmon_stall_s=0.5, **FAST)) as server:
        async with server.client(server.write_key) as c:
            assert (await c.get("/readyz")).status_code == 200
            await server.runtime.pipeline.stop()  # processing stops; intake still stores events
            assert (await c.post("/api/v1/events", json={"resource": "r1", "event": "link_down"})).status_code == 202

            async def not_ready() -> Any:
                r = await c.get("/readyz")
                return r if r.status_code == 503 else None

            r = await eventually(not_ready)
            assert "event processing stalled" in r.json()["detail"] and r.headers["retry-after"]
            server.runtime.pipeline.start()  # fixed: the backlog (the self-alert included) is processed

            async def resolved() -> bool:
                return await self_alert_status(server, "event-processing", "processing_stalled") == "resolved"

            await eventually(resolved)
            assert (await c.get("/readyz")).status_code == 200
        row = (await self_alerts(server))[("event-processing", "processing_stalled")]
        assert row["severity"] == "clear" and row["previous_severity"] == "critical"


async def test_a_refused_rules_reload_and_notify_reload_raise_self_alerts_named_by_file(
    settings_factory: Any, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    good = "rules:\n  - id: lab\n    when: {labels.env: lab}\n    drop: true\n"
    (rules / "10-lab.yaml").write_text(good)
    notify = rules / "notify.yaml"
    notify.write_text("receivers: {}\n")
    settings = settings_factory(rules_dir=rules, rules_watch=False, rules_engine_worker=False, notify_poll_s=0.05,
                                **FAST)
    async with start_live_server(settings) as server, server.client(server.admin_key) as c:
        (rules / "10-lab.yaml").write_text("rules:\n  - id: lab\n    when: {labels.env: lab}\n    drop: maybe\n")
        notify.write_text("receivers: [oops\n")
        r = await c.post("/api/v1/rules/reload")
        assert r.json()["ok"] is False
        path = str(rules / "10-lab.yaml")
        await eventually(lambda: self_alert_status(server, path, "rules_reload_refused"))
        await eventually(lambda: self_alert_status(server, str(notify), "notify_reload_refused"))
        alerts = await self_alerts(server)
        assert alerts[(path, "rules_reload_refused")]["summary"].count(path + ":4:") == 1
        assert alerts[(path, "rules_reload_refused")]["status"] == "active"
        (rules / "10-lab.yaml").write_text(good)
        notify.write_text("receivers: {}\n")
        assert (await c.post("/api/v1/rules/reload")).json()["ok"] is True

        async def both_resolved() -> bool:
            return (await self_alert_status(server, path, "rules_reload_refused") == "resolved"
                    and await self_alert_status(server, str(notify), "notify_reload_refused") == "resolved")

        await eventually(both_resolved)


HOOK = """
receivers:
  hook: {{kind: webhook, url: "{url}/hook"}}
route: {{receiver: hook, group_by: ["..."], group_wait: 0s, group_interval: 0s}}
"""


async def test_a_failing_receiver_raises_a_self_alert_that_resolves_when_deliveries_succeed(
    settings_factory: Any, tmp_path: Path
) -> None:
    async with serving(WebhookSink()) as sink:
        sink.script = [(500, {}, b"down")] * 1000
        notify = tmp_path / "notify.yaml"
        notify.write_text(HOOK.format(url=sink.url))
        settings = settings_factory(notify_file=notify, notify_retry_base_s=0.05, notify_retry_max_s=0.2,
                                    notify_poll_s=0.02, selfmon_receiver_failing_s=0.5, **FAST)
        async with start_live_server(settings) as server, server.client(server.write_key) as c:
            await c.post("/api/v1/events", json={"resource": "r1", "event": "link_down", "severity": "major"})
            await eventually(lambda: self_alert_status(server, "receiver/hook", "receiver_failing"))
            assert "failing for more than 0.5s" in (await self_alerts(server))[("receiver/hook", "receiver_failing")][
                "summary"]
            sink.script = []  # the receiver is back

            async def resolved() -> bool:
                return await self_alert_status(server, "receiver/hook", "receiver_failing") == "resolved"

            await eventually(resolved)


async def test_an_unbound_trap_listener_makes_readyz_503_and_raises_a_self_alert_until_it_binds(
    settings_factory: Any, tmp_path: Path
) -> None:
    shutil.copytree(REPO / "addons" / "snmp-traps", tmp_path / "addons" / "snmp-traps")
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", 0))
    port = blocker.getsockname()[1]
    settings = settings_factory(addons_dir=tmp_path / "addons", trap_port=port, poller_refresh_s=0.2,
                                **FAST)
    try:
        async with start_live_server(settings) as server, server.client() as c:
            r = await c.get("/readyz")
            assert r.status_code == 503 and "trap listener is not bound" in r.json()["detail"], r.text
            assert "Address already in use" in r.json()["detail"]
            await eventually(lambda: self_alert_status(server, "trap-listener", "listener_not_bound"))
            blocker.close()

            async def bound() -> bool:
                return (await c.get("/readyz")).status_code == 200

            await eventually(bound, within=20)

            async def resolved() -> bool:
                return await self_alert_status(server, "trap-listener", "listener_not_bound") == "resolved"

            await eventually(resolved)
    finally:
        blocker.close()
        await asyncio.sleep(0)


async def test_housekeeping_that_stopped_expiring_raises_a_self_alert(settings_factory: Any) -> None:
    settings = settings_factory(alert_timeout_s=1, housekeeping_interval_s=0.1, selfmon_stall_s=0.3, **FAST)
    async with start_live_server(settings) as server, server.client(server.write_key) as c:
        for t in server.runtime._tasks:  # the housekeeping loop dies (a bug, a crash loop)
            if t.get_name() == "housekeeping":
                t.cancel()
        await c.post("/api/v1/events", params={"wait": "true"}, json={"resource": "r1", "event": "e"})
        row = await eventually(lambda: self_alert_status(server, "housekeeping", "expiry_stalled"), within=20)
        assert row == "active"
        from opsconductor.store.housekeeping import expire_due

        assert await expire_due(server.runtime) >= 1  # housekeeping runs again

        async def resolved() -> bool:
            return await self_alert_status(server, "housekeeping", "expiry_stalled") == "resolved"

        await eventually(resolved)


async def test_a_refused_addon_manifest_raises_a_self_alert_until_it_loads(
    settings_factory: Any, tmp_path: Path
) -> None:
    addons = tmp_path / "addons"
    shutil.copytree(REPO / "addons" / "grafana", addons / "grafana")
    settings = settings_factory(addons_dir=addons, poller_refresh_s=0.2, **FAST)
    async with start_live_server(settings) as server:
        manifest = addons / "grafana" / "addon.yaml"
        good = manifest.read_text()
        manifest.write_text(good + "\nsources: 7\n")
        row = await eventually(lambda: self_alert_status(server, str(manifest), "addon_reload_refused"))
        assert row == "active"
        manifest.write_text(good)

        async def resolved() -> bool:
            return await self_alert_status(server, str(manifest), "addon_reload_refused") == "resolved"

        await eventually(resolved)
