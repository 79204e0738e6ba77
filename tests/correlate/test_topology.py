"""Topology suppression: a three-level chain down and up with the settle time, two upstreams,
the path in the trace, and end to end with targets from the API (depends_on)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from opsconductor.correlate.loader import load_ruleset
from opsconductor.correlate.service import compile_ruleset
from opsconductor.correlate.testing import RuleTestRunner
from opsconductor.correlate.topology import Down, Graph, cut_path

RULES = """
rules:
  - id: device-state
    when: {event: [device_down, device_up]}
    dedup: {key: [resource], correlate: [device_down, device_up]}
    clear_on: {event: device_up}
  - id: port-state
    when: {event: [port_down, port_up]}
    dedup: {key: [resource, component], correlate: [port_down, port_up]}
    clear_on: {event: port_up}
  - id: behind-a-down-device
    topology: {down: {event: device_down}, settle: 2m}
tests:
  - name: a core outage pages once; recovery does not storm
    targets:
      - {name: core1}
      - {name: dist1, depends_on: [core1]}
      - {name: acc1, depends_on: [dist1]}
      - {name: acc2, depends_on: [dist1]}
    input:
      - {at: 0s, event: {resource: core1, event: device_down, severity: critical}}
      - {at: 5s, event: {resource: dist1, event: device_down, severity: critical}}
      - {at: 6s, event: {resource: acc1, event: port_down, component: p1, severity: major}}
      - {at: 6s, event: {resource: acc2, event: port_down, component: p1, severity: major}}
      - {at: 10m, event: {resource: core1, event: device_up}}
      - {at: 630s, event: {resource: dist1, event: device_up}}
      - {at: 11m, event: {resource: acc1, event: port_up, component: p1}}
    expect:
      - at: 6s
        alerts:
          - {resource: core1, event: device_down, status: active}
          - {resource: dist1, event: device_down, status: suppressed, suppressed_reason: "upstream core1 down (alert 1"}
          - {resource: acc1, status: suppressed, suppressed_reason: "upstream core1 down"}
          - {resource: acc2, status: suppressed, suppressed_reason: "upstream core1 down"}
      - at: 11m
        alerts:
          - {resource: core1, event: device_down, status: resolved}
          - {resource: dist1, event: device_down, status: resolved}
          - {resource: acc1, status: resolved}
          - {resource: acc2, status: suppressed, suppressed_reason: "settling until"}
      - at: 13m
        alerts:
          - {resource: core1, event: device_down, status: resolved}
          - {resource: dist1, event: device_down, status: resolved}
          - {resource: acc1, status: resolved}
          - {resource: acc2, status: active}
  - name: with two upstreams, suppressed only while both are down; a resolve is never suppressed
    targets:
      - {name: rtrA}
      - {name: rtrB}
      - {name: sw1, depends_on: [rtrA, rtrB]}
    input:
      - {at: 0s, event: {resource: rtrA, event: device_down, severity: critical}}
      - {at: 10s, event: {resource: sw1, event: port_down, component: p1}}
      - {at: 20s, event: {resource: rtrB, event: device_down, severity: critical}}
      - {at: 30s, event: {resource: sw1, event: port_down, component: p2}}
      - {at: 40s, event: {resource: sw1, event: port_up, component: p2}}
    expect:
      - at: 30s
        alerts:
          - {resource: rtrA, status: active}
          - {resource: rtrB, status: active}
          - {resource: sw1, component: p1, status: active}
          - {resource: sw1, component: p2, status: suppressed, suppressed_reason: "upstream rtrA down"}
      - at: 40s
        alerts:
          - {resource: rtrA, status: active}
          - {resource: rtrB, status: active}
          - {resource: sw1, component: p1, status: active}
          - {resource: sw1, component: p2, status: resolved}
"""


async def _run(tmp_path: Path, text: str) -> None:
    f = tmp_path / "r.yaml"
    f.write_text(text)
    rs, errors = load_ruleset([f])
    assert errors == []
    results = await RuleTestRunner(compile_ruleset(rs)).run(list(rs.tests))
    assert [r.report() for r in results if not r.ok] == []
    assert results


async def test_topology_rule_tests(tmp_path: Path) -> None:
    await _run(tmp_path, RULES)


def _d(name: str) -> Down:
    return Down(name, "device_down", f"fp-{name}", 1)


def test_cut_path_chains_multiple_upstreams_and_cycles() -> None:
    g = Graph({"acc": ("dist",), "dist": ("core",), "sw": ("a", "b"), "x": ("y",), "y": ("x",)})
    assert cut_path(g, "acc", {"core": _d("core")}) == ["acc", "dist", "core"]
    assert cut_path(g, "acc", {"dist": _d("dist")}) == ["acc", "dist"]
    assert cut_path(g, "acc", {"dist": _d("dist"), "core": _d("core")}) == ["acc", "dist", "core"]
    assert cut_path(g, "acc", {}) is None
    assert cut_path(g, "core", {"core": _d("core")}) is None  # the root itself is never suppressed
    assert cut_path(g, "sw", {"a": _d("a")}) is None
    assert cut_path(g, "sw", {"a": _d("a"), "b": _d("b")}) == ["sw", "a"]
    assert cut_path(g, "x", {"y": _d("y")}) == ["x", "y"]  # its only upstream is down
    assert cut_path(g, "x", {}) is None  # a cycle is not a cut


def test_topology_rule_errors(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    f.write_text("rules:\n  - id: t\n    topology: {settle: soon}\n")
    _, errors = load_ruleset([f])
    text = [str(e) for e in errors]
    assert any("topology needs 'down'" in t for t in text), text
    assert any(t.startswith(f"{f}:3:16: invalid duration 'soon'") for t in text), text


def test_settle_window_is_in_the_reason() -> None:
    g = Graph({"a": ("b",)})
    until = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=2)
    d = Down("b", "device_down", "fp", 7, until)
    assert cut_path(g, "a", {"b": d}) == ["a", "b"]


TOPOLOGY_RULE = """
rules:
  - id: behind-a-down-device
    topology: {down: {event: device_down}, settle: 1s}
"""


async def test_topology_end_to_end_inventory_and_api(settings_factory, rules_dir: Path,  # type: ignore[no-untyped-def]
                                                     tmp_path: Path) -> None:
    """Shipped rules + a topology rule; core1 and dist1 from the inventory file, acc1 from the API."""
    from opsconductor.correlate.install import reevaluate_now
    from tests.correlate.test_api_e2e import send, until
    from tests.support.server import start_live_server

    (rules_dir / "50-topology.yaml").write_text(TOPOLOGY_RULE)
    inv = tmp_path / "inventory.yaml"
    inv.write_text("targets:\n  - {name: core1, address: 192.0.2.1}\n"
                   "  - {name: dist1, address: 192.0.2.2, depends_on: [core1]}\n")
    settings = settings_factory(rules_dir=rules_dir, rules_reevaluate_interval_s=0.2, rules_watch=False,
                                inventory_file=inv)
    async with start_live_server(settings) as server:
        async with server.admin as a:
            r = await a.post("/api/v1/targets", json={"name": "acc1", "address": "192.0.2.3",
                                                      "depends_on": ["dist1"]})
            assert r.status_code == 201, r.text
            assert r.json()["depends_on"] == ["dist1"]
            assert (await a.get("/api/v1/targets/dist1")).json()["depends_on"] == ["core1"]
            bad = await a.post("/api/v1/targets", json={"name": "acc2", "address": "x", "depends_on": "dist1"})
            assert bad.status_code == 422
        async with server.client(server.write_key) as c:
            (core,) = await send(c, {"resource": "core1", "event": "device_down", "severity": "critical"})
            (acc,) = await send(c, {"resource": "acc1", "event": "link_down", "component": "p1", "severity": "major"})
            assert core["outcome"] == "created" and acc["outcome"] == "suppressed"
            a1 = (await c.get(f"/api/v1/alerts/{acc['alert_id']}")).json()
            assert a1["suppressed_reason"] == f"upstream core1 down (alert {core['alert_id']})"
            ex = (await c.get(f"/api/v1/alerts/{acc['alert_id']}/explain")).json()
            topo = next(t for t in ex["trace"] if t["stage"] == "topology")
            assert topo["path"] == ["acc1", "dist1", "core1"] and "acc1 -> dist1 -> core1" in topo["detail"]
            assert topo["link"] == f"/api/v1/alerts/{core['alert_id']}"
            assert (await c.get(topo["link"])).json()["event"] == "device_down"
            # a resolve is never suppressed; the core comes back, the rest pages only after settle
            (up,) = await send(c, {"resource": "core1", "event": "device_up"})
            assert up["outcome"] == "resolved"
            await reevaluate_now(server.runtime)
            assert (await c.get(f"/api/v1/alerts/{acc['alert_id']}")).json()["status"] == "suppressed"
            a1 = await until(c, acc["alert_id"], "active")
            assert a1["status"] == "active" and a1["suppressed_reason"] is None


def test_links_give_depends_on_by_role_order() -> None:
    from opsconductor.sources.target_store import depends_from_links

    roles = {"core1": "core", "dist1": "distribution", "dist2": "distribution", "acc1": "access", "x": "odd"}
    order = ["core", "distribution", "access"]
    links = [{"a": a, "b": b, "upstream_roles": order}
             for a, b in (("dist1", "core1"), ("acc1", "dist1"), ("acc1", "dist2"), ("dist1", "dist2"), ("x", "acc1"))]
    assert depends_from_links(roles, links) == {"dist1": ["core1"], "acc1": ["dist1", "dist2"]}


async def test_netbox_cables_become_depends_on_and_suppress(settings_factory, rules_dir: Path,  # type: ignore[no-untyped-def]
                                                            tmp_path: Path, monkeypatch) -> None:
    """Devices and cables from the NetBox fake: the topology rule suppresses what sits behind core1."""
    from tests.correlate.test_api_e2e import send
    from tests.sources.conftest import copy_addon
    from tests.sources.fake_apis import NetBox
    from tests.sources.waits import wait_for
    from tests.support.server import start_live_server

    netbox = NetBox(token="nb-token-7").start()
    try:
        monkeypatch.setenv("TEST_NB_TOKEN", netbox.token)
        for i, (name, role) in enumerate((("core1", "core"), ("dist1", "distribution"), ("acc1", "access"),
                                          ("acc2", "access"))):
            netbox.add_device(i + 1, name, f"127.0.0.{20 + i}", "ams", role, None)
        netbox.add_cable(1, "dist1", "core1")
        netbox.add_cable(2, "acc1", "dist1")
        netbox.add_cable(3, "dist1", "acc2")
        copy_addon("netbox", tmp_path / "addons")
        inv = tmp_path / "inv.yaml"
        inv.write_text(f"targets:\n  - {{name: netbox1, address: 127.0.0.1, port: {netbox.port}, "
                       "labels: {platform: netbox, scheme: http}, credential: 'env:TEST_NB_TOKEN', "
                       "intervals: {netbox: 1}}\n")
        (rules_dir / "50-topology.yaml").write_text(TOPOLOGY_RULE)
        settings = settings_factory(addons_dir=tmp_path / "addons", inventory_file=inv, rules_dir=rules_dir,
                                    rules_watch=False, rules_reevaluate_interval_s=0.2)
        async with start_live_server(settings) as srv, srv.client(srv.write_key) as c:

            async def linked() -> bool:
                r = await c.get("/api/v1/targets/acc2")
                return r.status_code == 200 and r.json()["depends_on"] == ["dist1"]

            await wait_for(linked, what="acc2 depends on dist1 from the NetBox cables")
            assert (await c.get("/api/v1/targets/dist1")).json()["depends_on"] == ["core1"]
            assert (await c.get("/api/v1/targets/core1")).json()["depends_on"] == []
            (core,) = await send(c, {"resource": "core1", "event": "device_down", "severity": "critical"})
            (acc,) = await send(c, {"resource": "acc2", "event": "device_down", "severity": "critical"})
            assert core["outcome"] == "created" and acc["outcome"] == "suppressed"
            a = (await c.get(f"/api/v1/alerts/{acc['alert_id']}")).json()
            assert a["suppressed_reason"] == f"upstream core1 down (alert {core['alert_id']})"
    finally:
        netbox.stop()
