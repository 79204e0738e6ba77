"""`opsconductor rules test` and `rules explain` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsconductor.cli.main import main

SHIPPED = Path(__file__).parents[2] / "rules"


def test_shipped_rules_tests_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test", str(SHIPPED)]) == 0, capsys.readouterr().err
    assert "0 failed" in capsys.readouterr().out


def test_a_failing_rule_test_prints_a_diff_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "r.yaml"
    f.write_text(
        "rules:\n"
        "  - id: sev\n    when: {event: cpu_high}\n    set: {severity: minor}\n"
        "tests:\n"
        "  - name: cpu is minor\n"
        "    input: [{at: 0s, event: {resource: r1, event: cpu_high}},"
        " {at: 10s, event: {resource: r1, event: cpu_high}}]\n"
        "    expect: [{alerts: [{resource: r1, severity: major, duplicate_count: 1}]}]\n")
    assert main(["rules", "test", str(f)]) == 1
    err = capsys.readouterr().err
    assert f"{f}:6:5: test 'cpu is minor' FAILED" in err
    assert f"{f}:8:14: at 10s: alerts differ:" in err
    assert "- expected, not found: {'resource': 'r1', 'severity': 'major', 'duplicate_count': 1}" in err
    assert "+ found, not expected: {resource: 'r1', event: 'cpu_high', status: 'active', severity: 'minor', " \
           "duplicate_count: 1}" in err


def test_explain_an_event_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ev = tmp_path / "ev.json"
    ev.write_text(json.dumps({"resource": "rtr1", "event": "link_up", "component": "ge-0/0/1"}))
    assert main(["rules", "explain", str(ev), "--rules", str(SHIPPED)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["severity"] == "clear" and out["rule_id"] == "link-state"
    stages = [(t["stage"], t.get("rule")) for t in out["trace"]]
    assert ("dedup", "link-state") in stages and ("clear_on", "link-state") in stages
    assert out["trace"][1] == {"stage": "match", "rules": ["link-state", "link-state:clear_on"]}
