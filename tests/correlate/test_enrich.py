"""Enrichment: set: summary, labels and severity from sandboxed templates over the event, its
labels and its target's inventory; check's warnings; duplicate_count resets on a severity change."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from opsconductor.correlate.cli import cmd_check
from opsconductor.correlate.lint import lint_ruleset
from opsconductor.correlate.loader import load_ruleset
from opsconductor.correlate.service import compile_ruleset
from opsconductor.correlate.testing import RuleTestRunner
from tests.correlate.test_api_e2e import send
from tests.support.server import start_live_server

RULES = """
rules:
  - id: enrich-from-inventory
    when: {event: [link_down, fan_fail]}
    set:
      severity: "{{ 'critical' if target.labels.role == 'core' else 'minor' }}"
      summary: "{{ target.labels.site | upper }} {{ event.resource }}: {{ event.summary or event.event }}"
      labels: {site: "{{ target.labels.site }}", owner: "{{ target.labels.owner | default('noc') }}",
               oops: "{{ 1 / 0 }}"}
  - id: by-site
    when: {event: cpu_high}
    dedup: {key: [labels.site]}
tests:
  - name: the target's inventory enriches; a failing template keeps the value; no target, empty text
    targets:
      - {name: core1, labels: {site: ams, role: core, owner: team-core}}
      - {name: acc1, labels: {site: fra, role: access}}
    input:
      - {at: 0s, event: {resource: core1, event: link_down, component: xe-0, summary: carrier lost}}
      - {at: 0s, event: {resource: acc1, event: link_down, component: ge-1}}
      - {at: 0s, event: {resource: ghost, event: fan_fail}}
    expect:
      - alerts:
          - {resource: core1, severity: critical, summary: "AMS core1: carrier lost",
             labels: {site: ams, owner: team-core}}
          - {resource: acc1, severity: minor, summary: "FRA acc1: link_down", labels: {site: fra, owner: noc}}
          - {resource: ghost, severity: minor, summary: "ghost: fan_fail", labels: {owner: noc}}
  - name: duplicate_count resets when the severity changes (as in Alerta)
    input:
      - {at: 0s, event: {resource: r1, event: temp_high, severity: minor}}
      - {at: 1s, event: {resource: r1, event: temp_high, severity: minor}}
      - {at: 2s, event: {resource: r1, event: temp_high, severity: minor}}
    expect:
      - alerts: [{resource: r1, severity: minor, duplicate_count: 2}]
  - name: after a severity change the count starts again
    input:
      - {at: 0s, event: {resource: r1, event: temp_high, severity: minor}}
      - {at: 1s, event: {resource: r1, event: temp_high, severity: minor}}
      - {at: 2s, event: {resource: r1, event: temp_high, severity: major}}
      - {at: 3s, event: {resource: r1, event: temp_high, severity: major}}
    expect:
      - at: 2s
        alerts: [{resource: r1, severity: major, duplicate_count: 0}]
      - at: 3s
        alerts: [{resource: r1, severity: major, duplicate_count: 1}]
"""


async def _run(tmp_path: Path, text: str) -> None:
    f = tmp_path / "r.yaml"
    f.write_text(text)
    rs, errors = load_ruleset([f])
    assert errors == []
    results = await RuleTestRunner(compile_ruleset(rs)).run(list(rs.tests))
    assert [r.report() for r in results if not r.ok] == []
    assert results


async def test_enrichment_rule_tests(tmp_path: Path) -> None:
    await _run(tmp_path, RULES)


async def test_a_failing_template_is_in_the_trace(tmp_path: Path) -> None:
    from opsconductor.correlate.explain import explain_offline

    f = tmp_path / "r.yaml"
    f.write_text(RULES.split("tests:")[0])
    out = await explain_offline([f], {"resource": "x", "event": "link_down"})
    (enrich,) = [t for t in out["trace"] if t["stage"] == "enrich"]
    assert "label oops template failed (ZeroDivisionError): kept" in enrich["detail"]


BAD = [
    ("{summary: '{% for x in range(9) %}{% endfor %}'}", "only use {{ expressions }}"),
    ("{summary: '{{ unclosed'}", "bad template"),
    ("{labels: {site: 3}}", "must be text"),
    ("{}", "set needs 'severity', 'summary' or 'labels'"),
]


@pytest.mark.parametrize("n", range(len(BAD)))
def test_bad_templates_are_refused_at_check(n: int, tmp_path: Path) -> None:
    body, message = BAD[n]
    f = tmp_path / "r.yaml"
    f.write_text(f"rules:\n  - id: s\n    when: {{event: x}}\n    set: {body}\n")
    _, errors = load_ruleset([f])
    assert any(str(e).startswith(f"{f}:4:") and message in str(e) for e in errors), [str(e) for e in errors]


def test_sandbox_refuses_unsafe_attribute_access(tmp_path: Path) -> None:
    from opsconductor.correlate.enrich import enrich
    from opsconductor.model.event import NormalizedEvent, Severity

    f = tmp_path / "r.yaml"
    f.write_text("rules:\n  - id: s\n    when: {event: x}\n"
                 "    set: {summary: \"{{ event.__class__.__mro__[1].__subclasses__() }}\"}\n")
    rs, errors = load_ruleset([f])
    assert errors == []
    ev, _, notes = enrich(rs.rules[0], NormalizedEvent(resource="r", event="x", summary="s"), Severity.minor, None)
    assert ev.summary == "s" and notes == ["summary template failed (SecurityError): kept"]


LINT = """
rules:
  - id: hot-cpu
    when: {event: cpu, labels.cpu: {gt: 80}}
    set: {severity: major}
  - id: all-links
    when: {event: [link_down, link_up]}
    set: {severity: minor}
  - id: core-links
    when: {event: link_down, resource: core1}
    set: {severity: critical}
  - id: narrow-first
    when: {event: bgp_down, resource: pe1}
    drop: true
  - id: broad-later
    when: {event: bgp_down}
    drop: true
"""


def test_check_warns_on_numeric_label_comparisons_and_shadowed_rules(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "r.yaml"
    f.write_text(LINT)
    rs, errors = load_ruleset([f])
    assert errors == []
    warnings = lint_ruleset(rs)
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith(f"{f}:3:5: warning: rule 'hot-cpu': when compares labels.cpu as a number")
    assert warnings[1].startswith(f"{f}:9:5: warning: rule 'core-links' is shadowed by 'all-links'")
    assert cmd_check(argparse.Namespace(paths=[str(f)])) == 0  # warnings do not fail check
    err = capsys.readouterr().err
    assert "2 warning(s)" in err and "shadowed" in err


async def test_enrichment_end_to_end_with_the_inventory(settings_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "enrich.yaml").write_text(RULES.split("tests:")[0])
    inv = tmp_path / "inventory.yaml"
    inv.write_text("targets:\n  - {name: core1, address: 192.0.2.1, labels: {site: ams, role: core, owner: t1},"
                   " credential: 'env:NOPE'}\n")
    settings = settings_factory(rules_dir=rules, rules_watch=False, inventory_file=inv)
    async with start_live_server(settings) as server, server.client(server.write_key) as c:
        (r,) = await send(c, {"resource": "core1", "event": "link_down", "summary": "carrier lost"})
        a = (await c.get(f"/api/v1/alerts/{r['alert_id']}")).json()
        assert (a["severity"], a["summary"]) == ("critical", "AMS core1: carrier lost")
        assert a["labels"] == {"site": "ams", "owner": "t1"}
        assert "NOPE" not in str(a)
