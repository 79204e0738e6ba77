"""Every ```yaml example in docs/rules.md is a complete rule file: it passes check and its tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from opsconductor.correlate.loader import load_ruleset
from opsconductor.correlate.service import compile_ruleset
from opsconductor.correlate.testing import RuleTestRunner

DOC = Path(__file__).parents[2] / "docs" / "rules.md"
BLOCKS = re.findall(r"^```yaml\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_the_doc_has_examples() -> None:
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("n", range(len(BLOCKS)))
async def test_doc_example_checks_and_its_tests_pass(n: int, tmp_path: Path) -> None:
    path = tmp_path / f"example{n}.yaml"
    path.write_text(BLOCKS[n], encoding="utf-8")
    rs, errors = load_ruleset([path])
    assert errors == []
    assert rs.tests, "every documented example carries a test"
    results = await RuleTestRunner(compile_ruleset(rs)).run(list(rs.tests))
    assert [r.report() for r in results if not r.ok] == []
