"""The examples of docs/integrations.md, run. (The Prometheus and Alertmanager configuration
examples are run against the real binaries by test_push_prometheus_e2e.py.)"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from opsconductor.config.settings import Settings
from opsconductor.errors import ConfigError
from opsconductor.model.event import Severity
from opsconductor.sources.kinds import default_registry
from opsconductor.sources.manifest import parse_manifest
from opsconductor.sources.snmp_trap import ReceivedTrap, TrapSpec, TrapTable, traps_to_events
from opsconductor.sources.snmp_trap_service import trap_auth_from_settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
YAML_BLOCK = re.compile(r"```yaml\n# example: (?P<name>[\w-]+)\n(?P<body>.*?)```", re.S)
JSON_BLOCK = re.compile(r"```json\n(?P<body>.*?)```", re.S)
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def docs_example(name: str) -> str:
    """The body of the ```yaml block starting with ``# example: <name>``."""
    found = [m["body"] for m in YAML_BLOCK.finditer(DOC.read_text()) if m["name"] == name]
    assert len(found) == 1, f"docs/integrations.md has {len(found)} examples named {name}"
    return found[0]


def json_blocks() -> list[str]:
    return [m["body"] for m in JSON_BLOCK.finditer(DOC.read_text())]


def test_every_example_is_run_somewhere() -> None:
    names = sorted(m["name"] for m in YAML_BLOCK.finditer(DOC.read_text()))
    assert names == ["alertmanager", "amtool", "prometheus", "settings", "trap-source", "webhook-source"]
    assert len(json_blocks()) == 3


def test_webhook_source_example_gives_the_documented_event() -> None:
    manifest = parse_manifest(docs_example("webhook-source"), "addons/acme-monitor/addon.yaml", default_registry(),
                              dir_name="acme-monitor")
    payload, result, _ = (json.loads(b) if i < 2 else b for i, b in enumerate(json_blocks()))
    (event,) = manifest.sources[0].spec.translate(payload, NOW, max_items=10)
    assert event.raw == payload["events"][0]
    assert event.model_dump(mode="json", exclude_none=True, exclude={"raw"}) == {
        **result, "occurred_at": "2026-03-01T11:00:00Z"}


def test_trap_source_example() -> None:
    manifest = parse_manifest(docs_example("trap-source"), "addons/acme-ups/addon.yaml", default_registry(),
                              dir_name="acme-ups")
    table = TrapTable.build([s.spec for s in manifest.sources if isinstance(s.spec, TrapSpec)])
    traps = [
        ReceivedTrap("192.0.2.9", 162, "v2c", "1.3.6.1.4.1.99999.0.1",
                     (("1.3.6.1.4.1.99999.1.1.2", b"ups-b"), ("1.3.6.1.4.1.99999.1.2.2", 3)), NOW),
        ReceivedTrap("192.0.2.9", 162, "v2c", "1.3.6.1.4.1.99999.0.2", (("1.3.6.1.4.1.99999.1.1.2", b"ups-b"),), NOW),
    ]
    inventory = {"192.0.2.9": {"name": "dc1-ups", "address": "192.0.2.9", "port": None, "labels": {"site": "dc1"}}}
    down, up = traps_to_events(traps, table, inventory.get)[0]
    assert (down.resource, down.event, down.component, down.severity) == ("dc1-ups", "ups_on_battery", "ups-b",
                                                                          Severity.critical)
    assert down.summary == "ups-b runs on battery (depleted)" and down.labels == {"site": "dc1"}
    assert (up.component, up.severity) == ("ups-b", Severity.clear)


def test_settings_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "opsconductor.yaml"
    config.write_text(docs_example("settings"))
    monkeypatch.setenv("OPSCONDUCTOR_CONFIG", str(config))
    monkeypatch.setenv("TRAP_COMMUNITY", "s3cret-community")
    monkeypatch.delenv("OPSCONDUCTOR_TRAP_PORT", raising=False)  # parallel test workers set their own
    settings = Settings()
    assert (settings.trap_host, settings.trap_port) == ("0.0.0.0", 1162)
    # the v3 user file of the example does not exist here: a clear error naming the reference
    with pytest.raises(ConfigError) as exc:
        trap_auth_from_settings(settings)
    assert str(exc.value) == ("trap_v3_users[0]: credential file:trap-user.json: secret file trap-user.json: "
                              "cannot read: No such file or directory")
    user_file = tmp_path / "trap-user.json"
    user: dict[str, Any] = json.loads(json_blocks()[2].replace("…", "documented-key"))
    user_file.write_text(json.dumps(user))
    auth = trap_auth_from_settings(settings.model_copy(update={"credentials_dir": tmp_path}))
    assert auth.communities == (b"s3cret-community",)
    (v3,) = auth.users
    assert (v3.name, v3.auth_protocol, v3.priv_protocol, v3.engine_ids) == (
        "trapuser", "sha", "aes", (bytes.fromhex("80001f888001020304"),))
    assert auth.engine_id == bytes.fromhex("80001f8880c0ffee01")
    assert "documented-key" not in repr(auth) and "s3cret" not in repr(auth)


@pytest.mark.parametrize(("user", "message"), [
    ({"auth_key": "12345678"}, "'user' is missing"),
    ({"user": "u", "auth_protocol": "sha1024", "auth_key": "12345678"}, "auth_protocol must be one of"),
    ({"user": "u", "auth_key": "short", "priv_key": "12345678"}, "auth_key and priv_key need at least 8 characters"),
    ({"user": "u", "auth_key": "12345678", "priv_key": "12345678", "engine_ids": "0xzz"}, "engine ID must be hex"),
])
def test_bad_v3_users(user: dict[str, str], message: str, tmp_path: Path) -> None:
    f = tmp_path / "credentials" / "u.json"  # the default credentials_dir: <data_dir>/credentials
    f.parent.mkdir()
    f.write_text(json.dumps(user))
    with pytest.raises(ConfigError) as exc:
        trap_auth_from_settings(Settings(trap_v3_users=[f"file:{f}"], data_dir=tmp_path))
    assert message in str(exc.value)
    for secret in ("12345678", "short"):
        assert secret not in str(exc.value)
