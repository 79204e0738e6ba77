"""schemas/rule.schema.json accepts the shipped rules and the documented examples, and rejects bad ones."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from opsconductor.config.yaml_source import load_yaml, parse_yaml

ROOT = Path(__file__).parents[2]


def _validator() -> Draft202012Validator:
    schema = json.loads((ROOT / "schemas" / "rule.schema.json").read_text())
    event = json.loads((ROOT / "schemas" / "event.schema.json").read_text())
    registry: Registry[Any] = Registry().with_resource(event["$id"], Resource.from_contents(event))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry)


def _docs() -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```", (ROOT / "docs" / "rules.md").read_text(), flags=re.S | re.M)


@pytest.mark.parametrize("path", sorted(p for p in (ROOT / "rules").glob("*.yaml") if p.name != "notify.yaml"),
                         ids=lambda p: p.name)
def test_shipped_rules_validate(path: Path) -> None:
    errors = list(_validator().iter_errors(load_yaml(path).data))
    assert errors == []


def test_doc_examples_validate() -> None:
    v = _validator()
    for text in _docs():
        assert list(v.iter_errors(parse_yaml(text, "doc").data)) == []


@pytest.mark.parametrize("name", ["unknown-rule-key", "two-actions", "unknown-field", "unknown-severity",
                                  "unknown-operator", "drop-not-true"])
def test_schema_rejects_what_check_rejects(name: str) -> None:
    data = load_yaml(ROOT / "tests" / "correlate" / "fixtures" / f"{name}.yaml").data
    assert list(_validator().iter_errors(data)) != []
