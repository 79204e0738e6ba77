"""Correlation parents as incidents: parent_id on every child, late children join, the parent
stays open until every child resolved (or the first, with ``resolve: any``) and its severity is
the highest open child's. Rule tests through the real pipeline, then end to end over HTTP."""

from __future__ import annotations

from pathlib import Path

from opsconductor.correlate.incidents import highest
from opsconductor.correlate.loader import load_ruleset
from opsconductor.correlate.service import compile_ruleset
from opsconductor.correlate.testing import RuleTestRunner
from opsconductor.model.event import Severity
from tests.correlate.test_api_e2e import send
from tests.support.server import LiveServer

RULES = """
rules:
  - id: device-state
    when: {event: [device_down, device_up]}
    dedup: {key: [resource], correlate: [device_down, device_up]}
    clear_on: {event: device_up}
  - id: site-outage
    correlate: {when: {event: device_down}, group_by: [labels.site], count: 2, within: 1m,
                raise: {event: site_outage, resource: "{labels.site}"}}
tests:
  - name: late children join; severity follows the highest open child; open until all resolved
    input:
      - {at: 0s, event: {resource: a1, event: device_down, severity: minor, labels: {site: ams}}}
      - {at: 10s, event: {resource: a2, event: device_down, severity: major, labels: {site: ams}}}
      - {at: 10m, event: {resource: a3, event: device_down, severity: critical, labels: {site: ams}}}
      - {at: 20m, event: {resource: a3, event: device_up, labels: {site: ams}}}
      - {at: 30m, event: {resource: a2, event: device_up, labels: {site: ams}}}
      - {at: 40m, event: {resource: a1, event: device_up, labels: {site: ams}}}
    expect:
      - at: 10s
        alerts:
          - {resource: a1, status: active, parent: site_outage on ams}
          - {resource: a2, status: active, parent: site_outage on ams}
          - {resource: ams, event: site_outage, severity: major, status: active}
      - at: 10m
        alerts:
          - {resource: a1, status: active, parent: site_outage on ams}
          - {resource: a2, status: active, parent: site_outage on ams}
          - {resource: a3, status: active, parent: site_outage on ams}
          - {resource: ams, event: site_outage, severity: critical, status: active}
      - at: 20m
        alerts:
          - {resource: a1, status: active}
          - {resource: a2, status: active}
          - {resource: a3, status: resolved, parent: site_outage on ams}
          - {resource: ams, event: site_outage, severity: major, status: active}
      - at: 30m
        alerts:
          - {resource: a1, status: active}
          - {resource: a2, status: resolved}
          - {resource: a3, status: resolved}
          - {resource: ams, event: site_outage, severity: minor, status: active}
      - at: 40m
        alerts:
          - {resource: a1, status: resolved}
          - {resource: a2, status: resolved}
          - {resource: a3, status: resolved}
          - {resource: ams, event: site_outage, status: resolved}
"""

ANY = RULES.replace('resource: "{labels.site}"}}', 'resource: "{labels.site}", severity: critical},\n'
                    '                resolve: any}').split("tests:")[0] + """
tests:
  - name: with resolve any the first child to resolve resolves the parent; a pinned severity stays
    input:
      - {at: 0s, event: {resource: b1, event: device_down, severity: minor, labels: {site: fra}}}
      - {at: 10s, event: {resource: b2, event: device_down, severity: minor, labels: {site: fra}}}
      - {at: 20s, event: {resource: b3, event: device_down, severity: minor, labels: {site: fra}}}
      - {at: 60s, event: {resource: b1, event: device_up, labels: {site: fra}}}
    expect:
      - at: 20s
        alerts:
          - {resource: b1, status: active, parent: site_outage on fra}
          - {resource: b2, status: active, parent: site_outage on fra}
          - {resource: b3, status: active, parent: site_outage on fra}
          - {resource: fra, event: site_outage, severity: critical, status: active}
      - at: 60s
        alerts:
          - {resource: b1, status: resolved}
          - {resource: b2, status: active}
          - {resource: b3, status: active}
          - {resource: fra, event: site_outage, status: resolved}
"""


async def _run(tmp_path: Path, text: str) -> None:
    f = tmp_path / "r.yaml"
    f.write_text(text)
    rs, errors = load_ruleset([f])
    assert errors == []
    results = await RuleTestRunner(compile_ruleset(rs)).run(list(rs.tests))
    assert [r.report() for r in results if not r.ok] == []
    assert results


async def test_incident_rule_test(tmp_path: Path) -> None:
    await _run(tmp_path, RULES)


async def test_resolve_any_rule_test(tmp_path: Path) -> None:
    await _run(tmp_path, ANY)


def test_resolve_must_be_all_or_any(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    f.write_text(RULES.split("tests:")[0].replace("within: 1m,", "within: 1m, resolve: some,"))
    _, errors = load_ruleset([f])
    assert len(errors) == 1 and "resolve must be 'all'" in str(errors[0])
    assert str(errors[0]).startswith(f"{f}:8:")


def test_highest_ignores_clear_and_unknown() -> None:
    assert highest(["minor", "clear", "critical", "bogus", None]) is Severity.critical
    assert highest(["clear"]) is None


async def test_children_api_and_parent_id(rules_server: LiveServer) -> None:
    """The shipped site-isolation rule: three devices down; a fourth joins late; children listed."""
    async with rules_server.client(rules_server.write_key) as c:
        results = await send(c, *({"resource": f"r{i}.ber", "event": "device_down", "severity": "critical",
                                   "labels": {"site": "ber"}} for i in range(3)))
        await rules_server.runtime.pipeline.drain()
        r = await c.get("/api/v1/alerts", params={"resource": "ber", "event": "site_isolated"})
        (parent,) = r.json()["alerts"]
        (late,) = await send(c, {"resource": "r9.ber", "event": "device_down", "severity": "critical",
                                 "labels": {"site": "ber"}})
        assert late["outcome"] == "suppressed"
        kids = (await c.get(f"/api/v1/alerts/{parent['id']}/children")).json()
        assert kids["parent_id"] == parent["id"]
        assert sorted(k["resource"] for k in kids["children"]) == ["r0.ber", "r1.ber", "r2.ber", "r9.ber"]
        assert {k["id"] for k in kids["children"]} == {*(x["alert_id"] for x in results), late["alert_id"]}
        assert all(k["parent_id"] == parent["id"] for k in kids["children"])
        # one child back: the incident stays open
        await send(c, {"resource": "r0.ber", "event": "device_up", "labels": {"site": "ber"}})
        await rules_server.runtime.pipeline.drain()
        assert (await c.get(f"/api/v1/alerts/{parent['id']}")).json()["status"] == "active"
        assert (await c.get("/api/v1/alerts/999999/children")).status_code == 404
