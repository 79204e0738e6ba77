"""ciena-saos over real sshd (CLI table) and snmpd (alarm table); ping against real listeners."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sources.conftest import copy_addon
from tests.sources.peers import SnmpAgent, SshServer, free_tcp_port
from tests.sources.waits import alerts, wait_for
from tests.support.server import start_live_server

SAOS_HEADER = """
+----------------------------------------------------------------------------------+
|                              ACTIVE ALARM TABLE                                  |
+-----+----------+----------------+---------+--------------------------------------+
| Idx | Sev      | Cond           | Object  | Description                          |
+-----+----------+----------------+---------+--------------------------------------+
"""


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[SshServer]:
    server = SshServer(tmp_path / "sshd").start()
    yield server
    server.stop()


async def _none(coro):  # type: ignore[no-untyped-def]
    return not await coro


async def test_ciena_saos_cli_and_snmp_alarms(sshd, snmpd: SnmpAgent, settings_factory, tmp_path, monkeypatch):
    sshd.set_output("alarm show", SAOS_HEADER
                    + "| 1   | MAJOR    | Link Down      | 1/3     | Port 1/3 link down                   |\n"
                    + "| 2   | MINOR    | Fan Degraded   | FAN-2   | Fan speed below threshold            |\n"
                    + "+-----+----------+----------------+---------+--------------------------------------+\n")
    snmpd.set_alarm("1.2", 3, "Power Supply Failure", "PSU-1")
    monkeypatch.setenv("TEST_SAOS_SSH", sshd.credential_json())
    monkeypatch.setenv("TEST_SAOS_SNMP", snmpd.community)
    copy_addon("ciena-saos", tmp_path / "addons")
    inv = tmp_path / "inv.yaml"
    inv.write_text(f"""
targets:
  - name: saos1
    address: 127.0.0.1
    ports: {{snmp: {snmpd.port}, ssh: {sshd.port}}}
    labels: {{platform: saos}}
    credentials: {{snmp: env:TEST_SAOS_SNMP, ssh: env:TEST_SAOS_SSH}}
    intervals: {{ciena-saos: 1}}
""")
    async with start_live_server(settings_factory(addons_dir=tmp_path / "addons", inventory_file=inv)) as srv, \
            srv.client(srv.read_key) as c:
        await wait_for(lambda: _count(alerts(c, resource="saos1"), 3), what="3 SAOS alarms")
        by = {(a["event"], a["component"]): a for a in await alerts(c, resource="saos1")}
        assert by[("link_down", "1/3")]["severity"] == "major"
        assert by[("link_down", "1/3")]["labels"]["source_severity"] == "MAJOR"
        assert by[("fan_degraded", "FAN-2")]["severity"] == "minor"
        psu = by[("power_supply_failure", "PSU-1")]
        assert psu["severity"] == "critical" and psu["source"] == "ciena-saos/alarm-table"
        # The SSH connection is reused across polls, not reopened each time.
        svc = srv.runtime.sources
        await wait_for(lambda: _runs(svc, "cli-alarms", 3), what="3 CLI polls")
        assert svc.poller.clients.ssh.open_connections == 1
        # Alarms that disappear from the CLI table / the SNMP table are cleared.
        sshd.set_output("alarm show", SAOS_HEADER
                        + "| 2   | MINOR    | Fan Degraded   | FAN-2   | Fan speed below threshold            |\n")
        snmpd.clear_alarm("1.2")
        await wait_for(lambda: _none(alerts(c, event="link_down")), what="link_down cleared")
        await wait_for(lambda: _none(alerts(c, event="power_supply_failure")), what="PSU alarm cleared")
        assert await alerts(c, event="fan_degraded")


async def _runs(svc, source, n):  # type: ignore[no-untyped-def]
    return any(j["source"] == source and j["runs"] >= n for j in svc.poller.status())


async def _count(coro, n):  # type: ignore[no-untyped-def]
    return len(await coro) >= n


class Listener:
    """A TCP port on loopback that either answers, or is silent like a dead host.

    Silent = a listener whose accept queue is full: Linux then drops further SYNs, so a
    connect times out exactly as it does towards a host that is down.
    """

    def __init__(self) -> None:
        self.port = free_tcp_port()
        self.sock: socket.socket | None = None
        self.fill: list[socket.socket] = []

    def _listen(self, backlog: int) -> socket.socket:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(backlog)
        return s

    def answer(self) -> None:
        self.close()
        self.sock = self._listen(64)

    def go_silent(self) -> None:
        self.close()
        self.sock = self._listen(0)
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                c.connect(("127.0.0.1", self.port))
            self.fill.append(c)

    def close(self) -> None:
        for c in self.fill:
            c.close()
        self.fill.clear()
        if self.sock is not None:
            self.sock.close()
            self.sock = None


async def test_ping_device_down_and_up_without_root(settings_factory, tmp_path):
    dev = Listener()
    dev.answer()
    copy_addon("ping", tmp_path / "addons", **{"timeout: 2": "timeout: 0.5"})
    inv = tmp_path / "inv.yaml"
    # A closed port answers with a reset: that host is up too.
    inv.write_text(f"""
targets:
  - {{name: dev1, address: 127.0.0.1, port: {dev.port}, labels: {{ping: "yes"}}, intervals: {{ping: 1}}}}
  - {{name: dev2, address: 127.0.0.1, port: {free_tcp_port()}, labels: {{ping: "yes"}}, intervals: {{ping: 1}}}}
""")
    settings = settings_factory(addons_dir=tmp_path / "addons", inventory_file=inv, poller_max_backoff_s=1)
    try:
        async with start_live_server(settings) as srv, srv.client(srv.read_key) as c:
            svc = srv.runtime.sources
            await wait_for(lambda: _runs(svc, "reachability", 2), what="ping polls")
            assert all(j["last_error"] is None for j in svc.poller.status()), svc.poller.status()
            assert not await alerts(c, event="device_down")
            dev.go_silent()
            found = await wait_for(lambda: alerts(c, event="device_down"), what="device_down")
            assert [(a["resource"], a["severity"]) for a in found] == [("dev1", "critical")]
            dev.answer()
            await wait_for(lambda: _none(alerts(c, event="device_down")), what="device up again")
    finally:
        dev.close()
