"""Paging as the APIs page: NetBox `next` links followed exactly (filters kept), offset paging
until the reported total even when the server sends fewer rows than asked (PRTG, MCP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from opsconductor.sources.http_client import HttpClient
from opsconductor.sources.job import Clients
from opsconductor.sources.kinds import Target, default_registry
from opsconductor.sources.manifest import load_manifest
from opsconductor.sources.ping_client import Pinger
from opsconductor.sources.poller import Poller, PollerMetrics
from opsconductor.sources.snmp_client import SnmpClient
from opsconductor.sources.ssh_client import SshClient
from tests.sources.conftest import copy_addon
from tests.sources.fake_apis import CienaMcp, NetBox, Prtg


def poller(environ: dict[str, str], synced: list[tuple[str, list[dict[str, Any]]]] | None = None) -> Poller:
    async def sync(origin: str, targets: list[dict[str, Any]]) -> None:
        assert synced is not None
        synced.append((origin, targets))

    clients = Clients(snmp=SnmpClient(), ssh=SshClient(), http=HttpClient(), ping=Pinger())
    return Poller(registry=default_registry(), clients=clients, emit=_drop,
                  metrics=PollerMetrics(CollectorRegistry()), environ=environ, sync=sync)


async def _drop(events: Any) -> None:
    return None


async def test_netbox_follows_next_exactly_and_syncs_only_what_the_filter_says(tmp_path: Path) -> None:
    nb = NetBox("nb-token").start()
    try:
        for i in range(7):  # 5 active over 3 pages of 2, two planned/offline in between
            status = {2: "planned", 5: "offline"}.get(i, "active")
            nb.add_device(i + 1, f"dev{i}", f"127.0.0.{10 + i}", "ams", "edge", "saos", status=status,
                          tenant="acme" if i == 0 else None,
                          custom_fields={"opsconductor_snmp_credential": "env:SNMP_V3_EDGE"} if i == 0 else {})
        m = load_manifest(copy_addon("netbox", tmp_path / "addons", **{"limit: 200": "limit: 2"}),
                          default_registry())
        synced: list[tuple[str, list[dict[str, Any]]]] = []
        p = poller({"NB": "nb-token"}, synced)
        t = Target("nb", "127.0.0.1", port=nb.port, labels={"scheme": "http"}, addons=("netbox",),
                   credential="env:NB")
        p.configure({"netbox": m}, [t])
        await p.run("nb/netbox/devices")
        assert [s["last_error"] for s in p.status() if s["source"] == "devices"] == [None]  # cables: its own job
        [(origin, targets)] = synced
        assert origin == "netbox"
        assert [x["name"] for x in targets] == ["dev0", "dev1", "dev3", "dev4", "dev6"]
        pages = [r for r in nb.requests if r.path == "/api/dcim/devices/"]
        assert len(pages) == 3, "three pages, each asked for once"
        assert all(r.q("status") == "active" and r.q("limit") == "2" for r in pages)
        assert [r.q("offset", "0") for r in pages] == ["0", "2", "4"]
        first = targets[0]
        assert first["labels"] == {"site": "ams", "role": "edge", "platform": "saos", "tenant": "acme",
                                   "netbox_id": "1"}
        assert first["credentials"] == {"snmp": "env:SNMP_V3_EDGE"}
        assert targets[1]["credentials"] == {}
        await p.clients.close()
    finally:
        nb.stop()


async def test_prtg_offset_paging_continues_until_treesize_when_pages_are_short(tmp_path: Path) -> None:
    prtg = Prtg("tok").start()
    prtg.max_count = 2  # the server sends 2 rows although 500 are asked for
    try:
        for i in range(5):
            prtg.add_sensor(100 + i, f"sw{i}", "Ping", 5)
        m = load_manifest(copy_addon("prtg", tmp_path / "addons"), default_registry())
        got: list[Any] = []

        async def emit(events: Any) -> None:
            got.extend(events)

        p = poller({"T": "tok"})
        p.emit = emit
        t = Target("prtg", "127.0.0.1", port=prtg.port, labels={"scheme": "http"}, addons=("prtg",),
                   credential="env:T")
        p.configure({"prtg": m}, [t])
        await p.run("prtg/prtg/sensors")
        assert sorted(e.resource for e in got) == [f"sw{i}" for i in range(5)]
        assert [r.q("start") for r in prtg.requests] == ["0", "2", "4"]
        await p.clients.close()
    finally:
        prtg.stop()


async def test_mcp_offset_paging_uses_query_total(tmp_path: Path) -> None:
    mcp = CienaMcp("opsc", "pw").start()
    try:
        for i in range(3):
            mcp.add_alarm(f"a{i}", f"ws{i}", "1/1", "MAJOR", "LOS", "loss of signal")
        m = load_manifest(copy_addon("ciena-mcp", tmp_path / "addons", **{"size: 500": "size: 1"}),
                          default_registry())
        got: list[Any] = []

        async def emit(events: Any) -> None:
            got.extend(events)

        p = poller({"M": '{"username": "opsc", "password": "pw"}'})
        p.emit = emit
        t = Target("mcp", "127.0.0.1", port=mcp.port, labels={"scheme": "http"}, addons=("ciena-mcp",),
                   credential="env:M")
        p.configure({"ciena-mcp": m}, [t])
        await p.run("mcp/ciena-mcp/alarms")
        assert sorted(e.resource for e in got) == ["ws0", "ws1", "ws2"]
        await p.clients.close()
    finally:
        mcp.stop()
