"""notify.yaml loading: every error message with its file:line:col, the shipped example, the schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from opsconductor.config.yaml_source import load_yaml
from opsconductor.errors import ConfigErrors
from opsconductor.notify.config import check_file, load_config, parse_config
from opsconductor.notify.routing import match_routes

ROOT = Path(__file__).resolve().parents[2]
R = "receivers:\n  r: {kind: webhook, url: env:X}\n"

# (document, expected "line:col: message" fragment) -- one fixture per error message
BAD: list[tuple[str, str]] = [
    ("- a\n", "1:1: notify config must be a mapping"),
    ("version: 2\n" + R + "route: {receiver: r}\n", "1:1: unsupported version (expected 1)"),
    ("colour: red\n", "1:1: unknown top-level key 'colour'"),
    ("receivers: [a]\nroute: {receiver: r}\n", "1:1: receivers must be a mapping"),
    (R, "1:1: receivers are defined but there is no route"),
    ("receivers:\n  r: 3\nroute: {receiver: r}\n", "2:3: a receiver must be a mapping"),
    ("receivers:\n  r: {kind: fax}\nroute: {receiver: r}\n", "2:7: receiver 'r': kind must be one of"),
    ("receivers:\n  r: {kind: webhook}\nroute: {receiver: r}\n", "2:3: receiver 'r': webhook needs 'url'"),
    ("receivers:\n  r: {kind: webhook, url: env:X, colour: red}\nroute: {receiver: r}\n",
     "2:34: unknown webhook receiver key 'colour'"),
    ("receivers:\n  r: {kind: webhook, url: 3}\nroute: {receiver: r}\n",
     "2:22: expected a secret reference like env:NAME or file:/path"),
    ("receivers:\n  r: {kind: webhook, url: 'env:'}\nroute: {receiver: r}\n", "2:22: empty secret reference 'env:'"),
    ("receivers:\n  r: {kind: slack}\nroute: {receiver: r}\n", "2:3: receiver 'r': slack needs 'url'"),
    ("receivers:\n  r: {kind: slack, token: env:T}\nroute: {receiver: r}\n",
     "2:3: receiver 'r': slack with a token needs 'channel'"),
    ("receivers:\n  r: {kind: webhook, url: env:X, headers: [a]}\nroute: {receiver: r}\n",
     "2:34: headers must be a mapping"),
    ("receivers:\n  r: {kind: webhook, url: env:X, templates: [a]}\nroute: {receiver: r}\n",
     "2:34: templates must be a mapping"),
    ("receivers:\n  r: {kind: webhook, url: env:X, templates: {body: x}}\nroute: {receiver: r}\n",
     "2:46: unknown template 'body'"),
    ("receivers:\n  r: {kind: webhook, url: env:X, templates: {title: 3}}\nroute: {receiver: r}\n",
     "2:46: a template must be a string"),
    ("receivers:\n  r: {kind: webhook, url: env:X, templates: {title: '{{ x'}}\nroute: {receiver: r}\n",
     "2:46: template error:"),
    ("receivers:\n  r: {kind: webhook, url: env:X, concurrency: 0}\nroute: {receiver: r}\n",
     "2:34: concurrency must be an integer from 1 to 64"),
    ("receivers:\n  r: {kind: jira, url: env:J, user: u, token: env:T, create_retry_delay: later}\n"
     "route: {receiver: r}\n", "2:54: invalid duration 'later'"),
    ("receivers:\n  r: {kind: webhook, url: env:X, batch_max: 0}\nroute: {receiver: r}\n",
     "2:34: batch_max must be an integer from 1 to 500"),
    ("receivers:\n  r: {kind: webhook, url: env:X, timeout: soon}\nroute: {receiver: r}\n",
     "2:34: invalid duration 'soon'"),
    (R + "route: 3\n", "3:1: a route must be a mapping"),
    (R + "route: {group_wait: 1s}\n", "3:1: the root route needs a receiver"),
    (R + "route: {receiver: r, routes: [{receiver: 3}]}\n", "3:31: receiver must be a name"),
    (R + "route: {receiver: nope}\n", '3:9: undefined receiver "nope" used in route'),
    (R + "route: {receiver: r, routes: [{receiver: x}]}\n", '3:32: undefined receiver "x" used in route'),
    (R + "route: {receiver: r, match: {severity: major}}\n",
     "3:22: the root route matches every alert; put match on child routes"),
    (R + "route: {receiver: r, colour: red}\n", "3:22: unknown route key 'colour'"),
    (R + "route: {receiver: r, group_by: resource}\n", "3:22: group_by must be a list of field names"),
    (R + "route: {receiver: r, notify_on: [paged]}\n", "3:22: notify_on must be a list of"),
    (R + "route: {receiver: r, continue: yes please}\n", "3:22: continue must be true or false"),
    (R + "route: {receiver: r, routes: {receiver: r}}\n", "3:22: routes must be a list"),
    (R + "route: {receiver: r, mute_time: {days: [mon]}}\n", "3:22: time windows must be a list"),
    (R + "route: {receiver: r, mute_time: [3]}\n", "3:34: a time window must be a mapping"),
    (R + "route: {receiver: r, mute_time: [{days: [mon], at: noon}]}\n", "3:48: unknown time window key 'at'"),
    (R + "route: {receiver: r, mute_time: [{days: [moon]}]}\n", "3:34: invalid weekday 'moon'"),
    (R + "route: {receiver: r, mute_time: [{start: '25:00'}]}\n", "3:34: invalid time '25:00'"),
    (R + "route: {receiver: r, mute_time: [{timezone: Mars/Olympus}]}\n", "3:34: unknown time zone 'Mars/Olympus'"),
    (R + "route: {receiver: r, routes: [{match: 3}]}\n", "3:32: match must be a mapping of field: matcher"),
    (R + "route: {receiver: r, routes: [{match: {colour: red}}]}\n", "3:40: unknown field 'colour'"),
    (R + "route: {receiver: r, routes: [{match: {event: []}}]}\n", "3:40: an empty list matches nothing"),
    (R + "route: {receiver: r, routes: [{match: {event: {regex: a, not: b}}}]}\n",
     "3:40: a matcher operator mapping needs exactly one of"),
    (R + "route: {receiver: r, routes: [{match: {event: {regex: 3}}}]}\n", "3:48: regex must be a string"),
    (R + "route: {receiver: r, routes: [{match: {event: {regex: '(a'}}}]}\n", "3:48: invalid regular expression"),
    (R + "route: {receiver: r, routes: [{match: {event: {exists: maybe}}}]}\n", "3:48: exists must be true or false"),
    (R + "route: {receiver: r, routes: [{match: {value: {gt: high}}}]}\n", "3:48: gt needs a number"),
    (R + "route: {receiver: r, routes: [{match: {value: {near: 3}}}]}\n", "3:48: unknown matcher operator 'near'"),
    (R + "route: {receiver: r, routes: [{match: {event: }}]}\n", "3:40: a matcher value cannot be empty"),
    ("receivers: {r: {kind: webhook, url: env:X}\n", "file.yaml:2:1:"),  # malformed YAML
]


@pytest.mark.parametrize(("doc", "expected"), BAD, ids=[e.split(": ", 1)[-1][:40] for _, e in BAD])
def test_every_config_error_points_at_its_place(doc: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "file.yaml"
    path.write_text(doc)
    errors = check_file(path)
    assert errors, "expected an error"
    text = "\n".join(str(e) for e in errors)
    assert f"{path}:{expected}" in text or expected in text, text
    if not expected.startswith("file.yaml"):
        assert f"{path}:{expected.split(': ', 1)[0]}: " in text, text


def test_shipped_example_is_valid_and_matches_the_schema() -> None:
    path = ROOT / "rules" / "notify.yaml"
    assert check_file(path) == []
    schema = json.loads((ROOT / "schemas" / "notify.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(load_yaml(path).data, schema)
    cfg = load_config(path)
    assert set(cfg.receivers) == {"ops-chat", "on-call", "audit-hook"}
    assert all(ref.kind == "env" for r in cfg.receivers.values() for ref in r.secrets.values())


def test_routing_semantics_of_the_example() -> None:
    cfg = load_config(ROOT / "rules" / "notify.yaml")
    noon = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    night = datetime(2026, 3, 4, 23, 0, tzinfo=UTC)

    def receivers(at: datetime, **alert: object) -> list[str]:
        base = {"id": 1, "resource": "r", "event": "e", "severity": "warning", "status": "active", "labels": {}}
        return [r.receiver for r in match_routes(cfg.route, {**base, **alert}, at)]

    assert receivers(noon, severity="critical") == ["on-call", "audit-hook", "ops-chat"]
    assert receivers(noon, severity="info") == ["ops-chat"]
    assert receivers(noon, labels={"env": "lab"}) == ["audit-hook", "ops-chat"]
    assert receivers(night, labels={"env": "lab"}) == ["audit-hook"]  # muted at night, stops traversal


def test_several_errors_are_reported_in_file_order() -> None:
    doc = R + "route:\n  receiver: r\n  group_wait: never\n  routes:\n    - receiver: ghost\n"
    with pytest.raises(ConfigErrors) as exc:
        parse_config(doc, "n.yaml")
    assert [str(e) for e in exc.value.errors] == [
        "n.yaml:5:3: invalid duration 'never' (expected like 30s, 5m, 4h, 1d)",
        'n.yaml:7:7: undefined receiver "ghost" used in route',
    ]
