"""The shipped JSON Schema of the normalized event is the code's model, and both agree on examples."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from opsconductor.model.event import NormalizedEvent, event_json_schema

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_event_schema_is_generated_from_the_model() -> None:
    shipped = json.loads((ROOT / "schemas" / "event.schema.json").read_text())
    regenerate = "run: opsconductor schema dump -o schemas/event.schema.json"
    assert shipped == json.loads(json.dumps(event_json_schema())), regenerate


@pytest.mark.parametrize(
    ("event", "valid"),
    [
        ({"resource": "rtr1", "event": "link_down"}, True),
        ({"resource": "rtr1", "event": "link_down", "component": "ge-0/0/1", "severity": "clear", "value": 3.5,
          "labels": {"site": "ams"}, "source": "generic-snmp", "occurred_at": "2026-01-01T00:00:00Z",
          "summary": "x", "raw": {"oid": "1.3.6"}}, True),
        ({"resource": "rtr1"}, False),
        ({"resource": "rtr1", "event": "x", "severity": "fatal"}, False),
        ({"resource": "rtr1", "event": "x", "labels": {"a": 1}}, False),
        ({"resource": "rtr1", "event": "x", "extra": 1}, False),
        ({"resource": "", "event": "x"}, False),
    ],
)
def test_schema_and_model_agree(event: dict[str, object], valid: bool) -> None:
    schema = json.loads((ROOT / "schemas" / "event.schema.json").read_text())
    schema_ok = jsonschema.Draft202012Validator(schema).is_valid(event)
    try:
        NormalizedEvent.model_validate(event)
        model_ok = True
    except ValidationError:
        model_ok = False
    assert schema_ok == model_ok == valid
