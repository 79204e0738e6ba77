"""Correlation through the real pipeline (rule tests): parents without member suppression, windows."""

from __future__ import annotations

from pathlib import Path

from opsconductor.correlate.loader import load_ruleset
from opsconductor.correlate.service import compile_ruleset
from opsconductor.correlate.testing import RuleTestRunner

RULES = """
rules:
  - id: bgp-state
    when: {event: [bgp_down, bgp_up]}
    dedup: {key: [resource, component], correlate: [bgp_down, bgp_up]}
    clear_on: {event: bgp_up}
  - id: peering-loss
    correlate: {when: {event: bgp_down}, group_by: [resource], count: 2, within: 1m,
                raise: {event: peering_loss, resource: "{resource}", severity: major,
                        summary: "{resource}: peers down"}, resolve: any}
tests:
  - name: two peers down raise a parent; members stay active; with resolve any the first clear clears it
    input:
      - {at: 0s, event: {resource: pe1, event: bgp_down, component: a}}
      - {at: 10s, event: {resource: pe1, event: bgp_down, component: b}}
      - {at: 20s, event: {resource: pe2, event: bgp_down, component: a}}
      - {at: 60s, event: {resource: pe1, event: bgp_up, component: a}}
    expect:
      - at: 10s
        alerts:
          - {resource: pe1, component: a, status: active}
          - {resource: pe1, component: b, status: active}
          - {resource: pe1, event: peering_loss, severity: major, status: active, summary: "pe1: peers down"}
      - at: 60s
        alerts:
          - {resource: pe1, component: a, status: resolved}
          - {resource: pe1, component: b, status: active}
          - {resource: pe1, event: peering_loss, status: resolved}
          - {resource: pe2, component: a, status: active}
  - name: members further apart than the window raise nothing
    input:
      - {at: 0s, event: {resource: pe3, event: bgp_down, component: a}}
      - {at: 5m, event: {resource: pe3, event: bgp_down, component: b}}
    expect:
      - alerts:
          - {resource: pe3, component: a, status: active}
          - {resource: pe3, component: b, status: active}
"""


async def test_correlation_rule_tests(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    f.write_text(RULES)
    rs, errors = load_ruleset([f])
    assert errors == []
    results = await RuleTestRunner(compile_ruleset(rs)).run(list(rs.tests))
    assert [r.report() for r in results if not r.ok] == []
    assert len(results) == 2
