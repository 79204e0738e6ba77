"""Net-SNMP's ``snmptrap``/``snmpinform`` -> the trap receiver -> events -> alerts via REST.

Needs the Debian package ``snmp`` (``snmptrap``, ``snmpinform``). Covers v2c traps (fast
path), a v2c inform (acknowledged: snmpinform exits 0 only on the response), SNMPv3
authPriv traps and informs (pysnmp path), a wrong community (dropped), the inventory name
lookup, and linkDown/linkUp pairing through the shipped rules.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest

from tests.support.poll import eventually
from tests.support.server import LiveServer, start_live_server

REPO = Path(__file__).resolve().parents[2]
COMMUNITY = "trap-e2e-community"
USER = {"user": "trapuser", "auth_protocol": "sha", "auth_key": "authpass-e2e", "priv_protocol": "aes",
        "priv_key": "privpass-e2e", "engine_ids": "0x80001f88800102030405"}
SENDER_ENGINE = USER["engine_ids"]
RECEIVER_ENGINE = "0x80001f8880aabbccddeeff"

LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
LINK_UP = "1.3.6.1.6.3.1.1.5.4"
COLD_START = "1.3.6.1.6.3.1.1.5.1"
WARM_START = "1.3.6.1.6.3.1.1.5.2"
AUTH_FAILURE = "1.3.6.1.6.3.1.1.5.5"


def net_snmp(tool: str) -> str:
    path = shutil.which(tool)
    if path:
        return path
    message = f"{tool} is missing: apt-get install -y snmp"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def link_varbinds(if_index: int, name: str, admin: int, oper: int) -> list[str]:
    return [f"1.3.6.1.2.1.2.2.1.1.{if_index}", "i", str(if_index),
            f"1.3.6.1.2.1.2.2.1.7.{if_index}", "i", str(admin),
            f"1.3.6.1.2.1.2.2.1.8.{if_index}", "i", str(oper),
            f"1.3.6.1.2.1.31.1.1.1.1.{if_index}", "s", name]


class Sender:
    """Runs net-snmp tools against the receiver with a private config and persistent dir."""

    def __init__(self, tmp_path: Path, port: int):
        self.port = port
        self.env = {**os.environ, "SNMP_PERSISTENT_DIR": str(tmp_path / "snmp-persist"),
                    "SNMPCONFPATH": str(tmp_path / "snmp-conf"), "MIBS": ""}

    async def run(self, tool: str, *args: str, source: str = "127.0.0.1") -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            net_snmp(tool), "-m", "", "-r", "1", "-t", "2", f"--clientaddr={source}", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=self.env,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        return proc.returncode or 0, out.decode(errors="replace")

    async def v2c(self, trap_oid: str, *varbinds: str, community: str = COMMUNITY, inform: bool = False,
                  source: str = "127.0.0.1") -> tuple[int, str]:
        tool = "snmpinform" if inform else "snmptrap"
        return await self.run(tool, "-v", "2c", "-c", community, f"127.0.0.1:{self.port}", "", trap_oid,
                              *varbinds, source=source)

    async def v3(self, trap_oid: str, *varbinds: str, inform: bool = False) -> tuple[int, str]:
        tool = "snmpinform" if inform else "snmptrap"
        engine = [] if inform else ["-e", SENDER_ENGINE]  # informs discover the receiver's engine ID
        return await self.run(tool, "-v", "3", *engine, "-u", USER["user"], "-l", "authPriv",
                              "-a", "SHA", "-A", USER["auth_key"], "-x", "AES", "-X", USER["priv_key"],
                              f"127.0.0.1:{self.port}", "", trap_oid, *varbinds)


async def _having(text: Awaitable[str], needle: str) -> str | None:
    got = await text
    return got if needle in got else None


def trap_settings(tmp_path: Path, settings_factory: Any, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> Any:
    addons = tmp_path / "addons"
    shutil.copytree(REPO / "addons" / "snmp-traps", addons / "snmp-traps")
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("targets:\n  - name: lab-rtr2\n    address: 127.0.0.2\n")
    monkeypatch.setenv("OPSC_E2E_TRAP_COMMUNITY", COMMUNITY)
    monkeypatch.setenv("OPSC_E2E_TRAP_USER", json.dumps(USER))
    return settings_factory(
        addons_dir=addons, inventory_file=inventory, trap_port=free_udp_port(), trap_batch_ms=5,
        trap_communities=["env:OPSC_E2E_TRAP_COMMUNITY"], trap_v3_users=["env:OPSC_E2E_TRAP_USER"],
        trap_engine_id=RECEIVER_ENGINE, poller_refresh_s=0.5, **extra,
    )


async def alerts(server: LiveServer, **params: Any) -> list[dict[str, Any]]:
    async with server.client(server.read_key) as c:
        r = await c.get("/api/v1/alerts", params={"status": ["active", "resolved"], **params})
        assert r.status_code == 200, r.text
        return list(r.json()["alerts"])


async def test_v2c_v3_traps_and_informs_become_alerts(
    tmp_path: Path, settings_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = trap_settings(tmp_path, settings_factory, monkeypatch)
    async with start_live_server(settings) as server:
        service = server.runtime.snmp_traps
        assert service.receiver is not None and service.receiver.alive, service.error
        send = Sender(tmp_path, settings.trap_port)

        # v2c trap (fast path) from an address the inventory does not know: resource = address
        rc, out = await send.v2c(LINK_DOWN, *link_varbinds(3, "ge-0/0/3", admin=1, oper=2))
        assert rc == 0, out
        (down,) = await eventually(lambda: alerts(server, event="link_down"), 10, "the v2c linkDown alert")
        assert (down["resource"], down["component"], down["severity"]) == ("127.0.0.1", "ge-0/0/3", "major")
        assert down["summary"] == "ge-0/0/3 is down (admin up, oper down)"
        assert down["labels"]["ifIndex"] == "3" and down["source"] == "snmp-traps"

        # v2c inform: snmpinform only exits 0 when the receiver acknowledged it
        rc, out = await send.v2c(COLD_START, inform=True, source="127.0.0.2")
        assert rc == 0, f"inform not acknowledged: {out}"
        (cold,) = await eventually(lambda: alerts(server, event="device_rebooted"), 10, "the coldStart alert")
        assert cold["resource"] == "lab-rtr2", "the agent address is looked up in the inventory"
        assert cold["labels"]["restart"] == "cold"

        # SNMPv3 authPriv trap (sender engine ID configured) and inform (engine discovery)
        rc, out = await send.v3(AUTH_FAILURE)
        assert rc == 0, out
        (auth,) = await eventually(lambda: alerts(server, event="snmp_auth_failure"), 10, "the v3 trap alert")
        assert auth["severity"] == "warning"
        rc, out = await send.v3(WARM_START, inform=True)
        assert rc == 0, f"v3 inform not acknowledged: {out}"
        rebooted = await eventually(
            lambda: alerts(server, event="device_rebooted", resource="127.0.0.1"), 10, "the v3 inform alert")
        assert rebooted[0]["labels"]["restart"] == "warm"

        # SNMPv1 Trap-PDU (pysnmp converts it, RFC 3584): generic-trap 2 = linkDown
        rc, out = await send.run("snmptrap", "-v", "1", "-c", COMMUNITY, f"127.0.0.1:{settings.trap_port}",
                                 "1.3.6.1.4.1.99999", "127.0.0.3", "2", "0", "", "1.3.6.1.2.1.2.2.1.1.5", "i", "5")
        assert rc == 0, out
        v1 = await eventually(lambda: alerts(server, event="link_down", component="5"), 10, "the v1 linkDown")
        assert v1[0]["resource"] == "127.0.0.1" and v1[0]["labels"]["ifIndex"] == "5"

        # an unknown trap OID is caught by the catch-all rule, component = the trap OID
        rc, out = await send.v2c("1.3.6.1.4.1.99999.0.7", "1.3.6.1.4.1.99999.1.1.0", "s", "hello")
        assert rc == 0, out
        (other,) = await eventually(lambda: alerts(server, event="snmp_trap"), 10, "the catch-all alert")
        assert other["component"] == "1.3.6.1.4.1.99999.0.7" and other["severity"] == "info"

        # a wrong community is dropped (and counted), nothing reaches the event log
        rc, out = await send.v2c(LINK_DOWN, *link_varbinds(9, "ge-0/0/9", 1, 2), community="wrong-community")
        assert rc == 0, out

        async def metrics() -> str:
            async with server.client() as c:
                return (await c.get("/metrics")).text

        dropped = 'opsconductor_snmp_traps_total{outcome="bad_community"} 1.0'
        text = await eventually(lambda: _having(metrics(), dropped), 10, "the bad community to be counted")
        assert 'opsconductor_snmp_traps_total{outcome="accepted"} 6.0' in text
        assert not [a for a in await alerts(server, event="link_down") if a["component"] == "ge-0/0/9"]

        # secrets never show up: not in any alert, not in the metrics
        async with server.client(server.admin_key) as c:
            every = (await c.get("/api/v1/alerts", params={"status": ["active", "resolved"]})).text
        for secret in (COMMUNITY, USER["auth_key"], USER["priv_key"]):
            assert secret not in every and secret not in text


async def test_link_down_and_up_pair_on_one_alert_through_the_rules(
    tmp_path: Path, settings_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(REPO / "rules" / "20-links.yaml", rules / "20-links.yaml")
    settings = trap_settings(tmp_path, settings_factory, monkeypatch, rules_dir=rules)
    async with start_live_server(settings) as server:
        send = Sender(tmp_path, settings.trap_port)
        rc, out = await send.v2c(LINK_DOWN, *link_varbinds(7, "xe-1/0/7", admin=1, oper=2), source="127.0.0.2")
        assert rc == 0, out
        (down,) = await eventually(lambda: alerts(server, component="xe-1/0/7"), 15, "the linkDown alert")
        assert (down["resource"], down["status"], down["rule_id"]) == ("lab-rtr2", "active", "link-state")
        rc, out = await send.v2c(LINK_UP, *link_varbinds(7, "xe-1/0/7", admin=1, oper=1), source="127.0.0.2")
        assert rc == 0, out

        async def resolved() -> list[dict[str, Any]]:
            rows = await alerts(server, component="xe-1/0/7")
            return rows if rows and all(r["status"] == "resolved" for r in rows) else []

        rows = await eventually(resolved, 15, "linkUp to resolve the linkDown alert")
        assert [r["id"] for r in rows] == [down["id"]], "linkUp resolved the same row, created none"


async def test_a_taken_port_is_reported_and_the_server_keeps_running(
    tmp_path: Path, settings_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        port = squatter.getsockname()[1]
        settings = trap_settings(tmp_path, settings_factory, monkeypatch).model_copy(update={"trap_port": port})
        async with start_live_server(settings) as server:
            service = server.runtime.snmp_traps
            assert service.receiver is None
            assert service.error == f"cannot listen on udp 127.0.0.1:{port}: Address already in use"
            async with server.client(server.read_key) as c:
                assert (await c.get("/api/v1/alerts")).status_code == 200


@pytest.mark.faults
async def test_a_crashed_receiver_process_is_restarted(
    tmp_path: Path, settings_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = trap_settings(tmp_path, settings_factory, monkeypatch)
    async with start_live_server(settings) as server:
        service = server.runtime.snmp_traps
        first = service.receiver
        assert first is not None and first.alive
        os.kill(first._proc.pid, signal.SIGKILL)

        async def restarted() -> bool:
            return service.receiver is not None and service.receiver is not first and service.receiver.alive

        await eventually(restarted, 15, "the watcher to start a new receiver process")
        rc, out = await Sender(tmp_path, settings.trap_port).v2c(COLD_START)
        assert rc == 0, out
        await eventually(lambda: alerts(server, event="device_rebooted"), 10, "a trap through the new receiver")
