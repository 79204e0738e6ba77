"""PRTG, Ciena MCP and NetBox addons against local servers shaped like their APIs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sources.conftest import copy_addon
from tests.sources.fake_apis import CienaMcp, NetBox, Prtg
from tests.sources.waits import alerts, wait_for
from tests.support.server import start_live_server


@pytest.fixture
def prtg() -> Iterator[Prtg]:
    api = Prtg(token="prtg-token-1").start()
    yield api
    api.stop()


@pytest.fixture
def mcp() -> Iterator[CienaMcp]:
    api = CienaMcp("opsc", "mcp-pass-1").start()
    yield api
    api.stop()


@pytest.fixture
def netbox() -> Iterator[NetBox]:
    api = NetBox(token="nb-token-1").start()
    yield api
    api.stop()


def inventory(path: Path, name: str, port: int, platform: str, credential: str) -> Path:
    path.write_text(f"""
targets:
  - name: {name}
    address: 127.0.0.1
    port: {port}
    labels: {{platform: {platform}, scheme: http}}
    credential: {credential}
    intervals: {{prtg: 1, ciena-mcp: 1, netbox: 1}}
""")
    return path


async def _none(coro):  # type: ignore[no-untyped-def]
    return not await coro


async def test_prtg_sensor_states_become_alerts_with_source_severity(prtg, settings_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_PRTG_TOKEN", prtg.token)
    for i in range(7):  # more than one page would need size < 7; see the paging assertion below
        prtg.add_sensor(2000 + i, f"sw{i}", "Ping", 3)
    prtg.add_sensor(2100, "core1", "Port 1 Traffic", 5, "Timeout (code: PE018)")
    prtg.add_sensor(2101, "core1", "CPU Load", 4, "Warning level reached")
    copy_addon("prtg", tmp_path / "addons", **{"size: 500": "size: 3"})  # force paging
    inv = inventory(tmp_path / "inv.yaml", "prtg1", prtg.port, "prtg", "env:TEST_PRTG_TOKEN")
    async with start_live_server(settings_factory(addons_dir=tmp_path / "addons", inventory_file=inv)) as srv, \
            srv.client(srv.read_key) as c:
        found = await wait_for(lambda: alerts(c, event="prtg_sensor"), what="prtg alerts")
        await wait_for(lambda: _count(alerts(c, event="prtg_sensor"), 2), what="both prtg alerts")
        found = {a["component"]: a for a in await alerts(c, event="prtg_sensor")}
        assert found["Port 1 Traffic"]["resource"] == "core1"
        assert found["Port 1 Traffic"]["severity"] == "major"
        assert found["Port 1 Traffic"]["labels"]["source_severity"] == "Down"
        assert found["CPU Load"]["severity"] == "warning"
        # Paging by start/count: 9 sensors, 3 per page.
        starts = {r.q("start") for r in prtg.requests}
        assert {"0", "3", "6"} <= starts
        prtg.add_sensor(2100, "core1", "Port 1 Traffic", 3)
        await wait_for(lambda: _none(alerts(c, component="Port 1 Traffic")), what="cleared")
        # The API token never appears in our API.
        assert prtg.token not in json.dumps(await alerts(c, status=["active", "resolved"]))


async def _count(coro, n):  # type: ignore[no-untyped-def]
    return len(await coro) >= n


async def test_ciena_mcp_alarms_login_and_clear_when_gone(mcp, settings_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_MCP_CRED", json.dumps({"username": "opsc", "password": "mcp-pass-1"}))
    mcp.add_alarm("411473945349786091", "C01-S32-01", "1-3", "CRITICAL", "LOS", "Loss of signal")
    mcp.add_alarm("411473945349786092", "C02-WSAI-01", "OTM-1", "MINOR", "HIGH_BER", "High bit error rate")
    copy_addon("ciena-mcp", tmp_path / "addons")
    inv = inventory(tmp_path / "inv.yaml", "mcp1", mcp.port, "ciena-mcp", "env:TEST_MCP_CRED")
    async with start_live_server(settings_factory(addons_dir=tmp_path / "addons", inventory_file=inv)) as srv, \
            srv.client(srv.read_key) as c:
        await wait_for(lambda: _count(alerts(c), 2), what="two MCP alerts")
        by = {a["event"]: a for a in await alerts(c)}
        assert (by["los"]["resource"], by["los"]["component"], by["los"]["severity"]) == ("C01-S32-01", "1-3",
                                                                                          "critical")
        assert by["high_ber"]["labels"]["source_severity"] == "MINOR"
        assert mcp.tokens  # logged in through /tron/api/v1/tokens
        mcp.tokens.clear()  # the token expired: the next poll gets a 401 and logs in again
        logins = sum(r.path == "/tron/api/v1/tokens" for r in mcp.requests)
        await wait_for(lambda: _logged_in_again(mcp, logins), what="a second login")
        mcp.alarms = [a for a in mcp.alarms if a["id"] != "411473945349786091"]
        await wait_for(lambda: _none(alerts(c, event="los")), what="LOS cleared")
        assert await alerts(c, event="high_ber")


async def test_netbox_sync_creates_targets_with_labels(netbox, settings_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_NB_TOKEN", netbox.token)
    for i in range(5):
        netbox.add_device(i + 1, f"edge{i}", f"127.0.0.{10 + i}", "ams", "edge", "saos")
    netbox.add_device(99, "no-ip", None, "ams", "edge", None)
    copy_addon("netbox", tmp_path / "addons", **{"limit: 200": "limit: 2"})
    inv = inventory(tmp_path / "inv.yaml", "netbox1", netbox.port, "netbox", "env:TEST_NB_TOKEN")
    async with start_live_server(settings_factory(addons_dir=tmp_path / "addons", inventory_file=inv)) as srv, \
            srv.client(srv.read_key) as c:

        async def synced() -> list[dict]:  # type: ignore[type-arg]
            r = await c.get("/api/v1/targets")
            return [t for t in r.json()["targets"] if t["origin"] == "netbox"]

        found = await wait_for(lambda: _count(synced(), 5), what="5 netbox targets")
        got = {t["name"]: t for t in await synced()}
        assert sorted(got) == [f"edge{i}" for i in range(5)]
        assert got["edge3"]["address"] == "127.0.0.13"
        assert {k: got["edge3"]["labels"][k] for k in ("site", "role", "platform")} == \
            {"site": "ams", "role": "edge", "platform": "saos"}
        assert found
        netbox.devices = [d for d in netbox.devices if d["name"] != "edge4"]
        await wait_for(lambda: _gone(synced(), "edge4"), what="edge4 removed")


async def _gone(coro, name):  # type: ignore[no-untyped-def]
    return name not in {t["name"] for t in await coro}


async def _logged_in_again(mcp: CienaMcp, before: int) -> bool:
    return sum(r.path == "/tron/api/v1/tokens" for r in mcp.requests) > before and bool(mcp.tokens)
