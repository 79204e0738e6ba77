"""`rules check`: one fixture per error message, each reported as file:line:col: message, exit 1."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from opsconductor.cli.main import main
from opsconductor.correlate.loader import load_ruleset

FIXTURES = Path(__file__).parent / "fixtures"
_EXPECT = re.compile(r"^# expect: (\d+):(\d+)? (.+)$")


def _cases() -> list[Path]:
    return sorted(FIXTURES.glob("*.yaml"))


@pytest.mark.parametrize("path", _cases(), ids=lambda p: p.stem)
def test_fixture_reports_its_error_at_its_position(path: Path) -> None:
    m = _EXPECT.match(path.read_text(encoding="utf-8").splitlines()[0])
    assert m, f"{path.name} must start with '# expect: LINE:COL message'"
    line, col, message = m.group(1), m.group(2), m.group(3)
    _, errors = load_ruleset([path])
    rendered = [str(e) for e in errors]
    where = f"{path}:{line}:{col}: " if col else f"{path}:{line}:"
    assert any(r.startswith(where) and message in r for r in rendered), rendered


def test_cli_check_prints_errors_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", str(FIXTURES / "unknown-field.yaml")]) == 1
    err = capsys.readouterr().err
    assert f"{FIXTURES / 'unknown-field.yaml'}:4:12: unknown field 'hostname'" in err


def test_a_10_mb_rule_file_is_refused_with_a_position(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("rules:\n" + "# padding\n" * 1_100_000)
    _, errors = load_ruleset([big])
    assert [str(e) for e in errors] == [f"{big}:1:1: file is larger than 2000000 bytes ({big.stat().st_size})"]


def test_notify_routing_config_is_not_a_rule_file(tmp_path: Path) -> None:
    (tmp_path / "notify.yaml").write_text("route: {receiver: ops}\nreceivers: []\n")
    (tmp_path / "a.yaml").write_text("rules:\n  - id: x\n    when: {event: a}\n    drop: true\n")
    rs, errors = load_ruleset([tmp_path])
    assert errors == []
    assert [r.id for r in rs.rules] == ["x"]


def test_shipped_rules_pass_check(capsys: pytest.CaptureFixture[str]) -> None:
    rules = Path(__file__).parents[2] / "rules"
    assert main(["rules", "check", str(rules)]) == 0, capsys.readouterr().err


def test_check_hands_notify_config_to_the_notify_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("opsconductor.notify.config")
    (tmp_path / "notify.yaml").write_text("route: {receiver: nobody, bogus_key: 1}\nreceivers: []\n")
    assert main(["rules", "check", str(tmp_path)]) == 1
    assert f"{tmp_path / 'notify.yaml'}:" in capsys.readouterr().err
