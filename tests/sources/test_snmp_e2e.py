"""A manifest + inventory in place, the server started: snmpd link changes become alerts."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.sources.conftest import REPO, copy_addon
from tests.sources.peers import SnmpAgent
from tests.sources.waits import alerts, wait_for
from tests.support.server import start_live_server


def write_inventory(path: Path, agent: SnmpAgent, **extra: str) -> Path:
    path.write_text(f"""
targets:
  - name: rtr1.test
    address: 127.0.0.1
    port: {agent.port}
    labels: {{snmp: "yes", site: ams}}
    credential: env:TEST_SNMP_COMMUNITY
    intervals: {{generic-snmp: 1}}
""")
    return path


async def test_link_down_from_snmpd_becomes_alert_and_clears(snmpd, settings_factory, tmp_path, monkeypatch):
    """Through the shipped rules (rules/): link state pairs on one alert row per interface."""
    monkeypatch.setenv("TEST_SNMP_COMMUNITY", snmpd.community)
    copy_addon("generic-snmp", tmp_path / "addons")
    inv = write_inventory(tmp_path / "inventory.yaml", snmpd)
    settings = settings_factory(addons_dir=tmp_path / "addons", inventory_file=inv, rules_dir=REPO / "rules")
    async with start_live_server(settings) as srv, srv.client(srv.read_key) as c:
        snmpd.set_interface(2, "ge-0/0/2", "GigabitEthernet 2", oper=2)
        found = await wait_for(lambda: alerts(c, event="link_down", resource="rtr1.test"), what="link_down alert")
        assert [(a["component"], a["severity"]) for a in found] == [("ge-0/0/2", "major")]
        assert found[0]["labels"]["ifIndex"] == "2"
        assert found[0]["source"] == "generic-snmp/interfaces"
        snmpd.set_interface(2, "ge-0/0/2", "GigabitEthernet 2", oper=1)
        await wait_for(lambda: _none(alerts(c, event="link_down")), what="link_down cleared")
        [resolved] = await alerts(c, event="link_down", status="resolved")
        assert (resolved["component"], resolved["id"]) == ("ge-0/0/2", found[0]["id"])  # the same row


async def _none(coro):  # type: ignore[no-untyped-def]
    return not await coro


async def test_reboot_and_unreachable(snmpd, settings_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_SNMP_COMMUNITY", snmpd.community)
    copy_addon("generic-snmp", tmp_path / "addons")
    inv = write_inventory(tmp_path / "inventory.yaml", snmpd)
    settings = settings_factory(addons_dir=tmp_path / "addons", inventory_file=inv, poller_max_backoff_s=2)
    async with start_live_server(settings) as srv, srv.client(srv.read_key) as c:
        svc = srv.runtime.sources

        async def polled_uptime_twice() -> bool:
            return any(j["source"] == "uptime" and j["runs"] >= 2 and j["last_error"] is None
                       for j in svc.poller.status())

        await wait_for(polled_uptime_twice, what="two uptime polls")
        # Let the agent's uptime grow past how long the restart below takes to be noticed.
        await asyncio.sleep(max(0.0, 7.0 - (time.monotonic() - snmpd.started_at)))
        snmpd.stop()
        found = await wait_for(lambda: alerts(c, event="snmp_unreachable"), what="snmp_unreachable alert")
        assert found[0]["resource"] == "rtr1.test" and found[0]["severity"] == "major"
        snmpd.start()  # a restarted agent: sysUpTime went down
        await wait_for(lambda: alerts(c, event="device_rebooted"), timeout=20, what="device_rebooted")
        await wait_for(lambda: _none(alerts(c, event="snmp_unreachable")), timeout=20, what="unreachable cleared")
