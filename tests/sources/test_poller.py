"""The poller on its own, against real snmpd: v3 authPriv, isolation of dead targets, reconcile."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from opsconductor.sources.http_client import HttpClient
from opsconductor.sources.job import Clients
from opsconductor.sources.kinds import Target, default_registry
from opsconductor.sources.manifest import Manifest, load_manifest
from opsconductor.sources.ping_client import Pinger
from opsconductor.sources.poller import Poller, PollerMetrics
from opsconductor.sources.snmp_client import SnmpClient
from opsconductor.sources.ssh_client import SshClient
from tests.sources.conftest import copy_addon
from tests.sources.peers import V3_AUTH, V3_PRIV, V3_USER, SnmpAgent, free_udp_port


class Collected:
    def __init__(self) -> None:
        self.events: list[Any] = []

    async def __call__(self, events: Any) -> None:
        self.events.extend(events)


def make_poller(environ: dict[str, str]) -> tuple[Poller, Collected]:
    got = Collected()
    clients = Clients(snmp=SnmpClient(), ssh=SshClient(), http=HttpClient(), ping=Pinger())
    return Poller(registry=default_registry(), clients=clients, emit=got, metrics=PollerMetrics(CollectorRegistry()),
                  environ=environ, max_backoff_s=30), got


def generic(tmp_path: Path, **replace: str) -> Manifest:
    return load_manifest(copy_addon("generic-snmp", tmp_path / "addons", **replace), default_registry())


async def test_snmp_v3_auth_priv(snmpd: SnmpAgent, tmp_path: Path) -> None:
    snmpd.set_interface(2, "ge-0/0/2", "GigabitEthernet 2", oper=2)
    m = generic(tmp_path, **{"    kind: snmp\n": '    kind: snmp\n    version: "3"\n'})
    cred = json.dumps({"user": V3_USER, "auth_key": V3_AUTH, "priv_key": V3_PRIV})
    poller, _ = make_poller({"V3": cred, "WRONG": json.dumps({"user": V3_USER, "auth_key": "wrong-auth-key",
                                                                "priv_key": V3_PRIV})})
    good = Target("v3ok", "127.0.0.1", port=snmpd.port, addons=("generic-snmp",), credential="env:V3")
    bad = Target("v3bad", "127.0.0.1", port=snmpd.port, addons=("generic-snmp",), credential="env:WRONG")
    poller.configure({"generic-snmp": m}, [good, bad])
    events = await poller.run("v3ok/generic-snmp/interfaces")
    assert [(e.component, e.severity.value if e.severity else None) for e in events] == [
        ("ge-0/0/1", "clear"), ("ge-0/0/2", "major")]
    await poller.run("v3bad/generic-snmp/interfaces")
    status = {s["target"]: s for s in poller.status() if s["source"] == "interfaces"}
    assert status["v3ok"]["last_error"] is None
    assert status["v3bad"]["last_error"]  # wrong key: no answer we can use
    assert "wrong-auth-key" not in json.dumps(poller.status())
    await poller.clients.close()


async def test_dead_targets_do_not_delay_the_live_one(snmpd: SnmpAgent, tmp_path: Path) -> None:
    m = generic(tmp_path, **{"interval: 60": "interval: 1"})
    poller, got = make_poller({"C": snmpd.community})
    live = Target("live", "127.0.0.1", port=snmpd.port, addons=("generic-snmp",), credential="env:C")
    dead = [Target(f"dead{i}", "127.0.0.1", port=free_udp_port(), addons=("generic-snmp",), credential="env:C")
            for i in range(40)]
    poller.configure({"generic-snmp": m}, [live, *dead])
    poller.start()
    try:
        await asyncio.sleep(8)
    finally:
        poller.stop()
    st = {s["id"]: s for s in poller.status()}
    live_job = st["live/generic-snmp/interfaces"]
    assert live_job["runs"] >= 4 and live_job["failures"] == 0, live_job
    assert live_job["last_duration_s"] < 1.0
    unreachable = [e for e in got.events if e.event == "snmp_unreachable"]
    assert sorted({e.resource for e in unreachable}) == sorted(t.name for t in dead)
    # Re-asserted by every failed poll of a dead target, never more.
    failed_runs = sum(s["failures"] for k, s in st.items() if k.startswith("dead"))
    assert len(dead) <= len(unreachable) <= failed_runs
    assert sum(s["skipped"] for k, s in st.items() if k.startswith("dead")) > 0  # backoff at work
    await poller.clients.close()


async def test_configure_reconciles_jobs_and_interval_overrides(tmp_path: Path) -> None:
    m = generic(tmp_path)
    poller, _ = make_poller({})
    a = Target("a", "127.0.0.1", labels={"snmp": "yes"})
    b = Target("b", "127.0.0.1", labels={"snmp": "yes"}, intervals={"generic-snmp/uptime": 15})
    c = Target("c", "127.0.0.1", labels={"snmp": "no"})
    poller.configure({"generic-snmp": m}, [a, b, c])
    jobs = {s["id"]: s["interval_s"] for s in poller.status()}
    assert jobs == {"a/generic-snmp/interfaces": 60, "a/generic-snmp/interface-metrics": 60,
                    "a/generic-snmp/uptime": 60, "b/generic-snmp/interfaces": 60,
                    "b/generic-snmp/interface-metrics": 60, "b/generic-snmp/uptime": 15}
    poller.configure({"generic-snmp": m}, [b], disabled=frozenset())
    assert {s["target"] for s in poller.status()} == {"b"}
    poller.configure({"generic-snmp": m}, [b], disabled=frozenset({"generic-snmp"}))
    assert poller.status() == []
    await poller.clients.close()


async def test_events_not_stored_are_detected_again(snmpd: SnmpAgent, tmp_path: Path) -> None:
    """The database is down when a link goes down: the next poll reports it again, nothing is lost."""
    m = generic(tmp_path)
    poller, got = make_poller({"C": snmpd.community})
    fail = {"on": True}

    async def flaky(events: Any) -> None:
        if fail["on"]:
            from opsconductor.errors import Unavailable

            raise Unavailable("database unavailable: test")
        await got(events)

    poller.emit = flaky
    poller.configure({"generic-snmp": m}, [Target("r", "127.0.0.1", port=snmpd.port, addons=("generic-snmp",),
                                                  credential="env:C")])
    snmpd.set_interface(2, "ge-0/0/2", "GigabitEthernet 2", oper=2)
    assert await poller.run("r/generic-snmp/interfaces")  # produced, but not stored
    status = {st["source"]: st for st in poller.status()}
    assert "events not accepted" in status["interfaces"]["last_error"]
    fail["on"] = False
    await poller.run("r/generic-snmp/interfaces")
    assert [(e.component, e.severity.value) for e in got.events if e.severity] == [
        ("ge-0/0/1", "clear"), ("ge-0/0/2", "major")]
    await poller.clients.close()
