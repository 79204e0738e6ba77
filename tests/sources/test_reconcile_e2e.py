"""Reconciliation against real snmpd and real ``snmptrap``: the alert table agrees with the last poll.

- an interface down longer than the alert timeout stays open (each poll re-asserts it);
  ``last_seen`` and ``duplicate_count`` move, history does not grow;
- a linkUp trap for a port the poll sees down resolves the row, the next poll opens it again;
- a linkDown trap for a port the poll sees up is resolved by the poll.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.sources.conftest import REPO, copy_addon
from tests.sources.peers import SnmpAgent
from tests.sources.test_traps_e2e import COMMUNITY, LINK_DOWN, LINK_UP, Sender, free_udp_port, link_varbinds
from tests.sources.waits import alerts, wait_for
from tests.support.server import start_live_server


def reconcile_settings(tmp_path: Path, agent: SnmpAgent, settings_factory: Any,
                       monkeypatch: pytest.MonkeyPatch, **extra: Any) -> Any:
    monkeypatch.setenv("TEST_SNMP_COMMUNITY", agent.community)
    monkeypatch.setenv("OPSC_E2E_TRAP_COMMUNITY", COMMUNITY)
    addons = tmp_path / "addons"
    copy_addon("generic-snmp", addons)
    shutil.copytree(REPO / "addons" / "snmp-traps", addons / "snmp-traps")
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(REPO / "rules" / "20-links.yaml", rules / "20-links.yaml")
    inv = tmp_path / "inventory.yaml"
    inv.write_text(f"""
targets:
  - name: rtr1.test
    address: 127.0.0.1
    port: {agent.port}
    labels: {{snmp: "yes", site: ams}}
    credential: env:TEST_SNMP_COMMUNITY
    intervals: {{generic-snmp: 1}}
""")
    return settings_factory(addons_dir=addons, inventory_file=inv, rules_dir=rules,
                            trap_port=free_udp_port(), trap_batch_ms=5,
                            trap_communities=["env:OPSC_E2E_TRAP_COMMUNITY"], **extra)


async def test_polled_condition_outlives_the_alert_timeout_and_a_trap_cannot_hide_it(
        snmpd: SnmpAgent, settings_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = reconcile_settings(tmp_path, snmpd, settings_factory, monkeypatch, alert_timeout_s=3)
    async with start_live_server(settings) as srv, srv.client(srv.read_key) as c:
        snmpd.set_interface(2, "ge-0/0/2", "GigabitEthernet 2", oper=2)
        [down] = await wait_for(lambda: alerts(c, event="link_down", component="ge-0/0/2"), what="link_down")
        assert down["labels"]["site"] == "ams"  # the target's labels are on polled alerts

        async def seen_well_past_the_timeout() -> dict[str, Any] | None:
            r = (await c.get(f"/api/v1/alerts/{down['id']}")).json()
            return r if r["duplicate_count"] >= 8 else None

        # 8+ polls at 1 s with a 3 s alert timeout: expiry runs every 0.2 s and never catches it.
        row = await wait_for(seen_well_past_the_timeout, timeout=20, what="re-asserted polls")
        assert row["status"] == "active" and row["last_seen"] > down["last_seen"]
        assert [h["kind"] for h in row["history"]] == ["created"], "re-assertion adds no history"

        # A linkUp trap for the port the poll sees down resolves the row; the next poll re-opens it.
        send = Sender(tmp_path, settings.trap_port)
        rc, out = await send.v2c(LINK_UP, *link_varbinds(2, "ge-0/0/2", admin=1, oper=1))
        assert rc == 0, out

        async def reopened() -> list[dict[str, Any]]:
            rows = await alerts(c, event="link_down", component="ge-0/0/2", status=["active", "resolved"])
            old = [r for r in rows if r["id"] == down["id"]]
            new = [r for r in rows if r["id"] != down["id"] and r["status"] == "active"]
            return new if old and old[0]["status"] == "resolved" else []

        [again] = await wait_for(reopened, timeout=15, what="the poll to re-open what the trap resolved")
        assert again["severity"] == "major"


async def test_a_trap_cannot_strand_a_condition_the_poll_sees_clear(
        snmpd: SnmpAgent, settings_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = reconcile_settings(tmp_path, snmpd, settings_factory, monkeypatch)
    async with start_live_server(settings) as srv, srv.client(srv.read_key) as c:
        svc = srv.runtime.sources
        assert svc is not None

        async def polled() -> bool:
            return any(j["source"] == "interfaces" and j["runs"] >= 2 for j in svc.poller.status())

        await wait_for(polled, what="two interface polls")
        send = Sender(tmp_path, settings.trap_port)
        rc, out = await send.v2c(LINK_DOWN, *link_varbinds(1, "ge-0/0/1", admin=1, oper=2))
        assert rc == 0, out
        [down] = await wait_for(lambda: alerts(c, event="link_down", component="ge-0/0/1", status=["active",
                                                                                                    "resolved"]),
                                what="the trap's link_down")
        assert down["source"] == "snmp-traps"

        async def resolved() -> dict[str, Any] | None:
            r = (await c.get(f"/api/v1/alerts/{down['id']}")).json()
            return r if r["status"] == "resolved" else None

        # Within one refresh of the open-alert view (5 s) and one poll.
        row = await wait_for(resolved, timeout=15, what="the poll to clear the trap's link_down")
        assert row["history"][-1]["kind"] == "status"
        assert not await alerts(c, event="link_down")
