"""Manifest loading: every config error is `file:line:col: message` (one fixture per message)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsconductor.errors import ConfigError, ConfigErrors
from opsconductor.sources.kinds import Target, default_registry
from opsconductor.sources.manifest import addon_schema, load_addons, parse_manifest

HERE = Path(__file__).resolve().parent
BAD = sorted((HERE / "bad_manifests").glob("*.yaml"))
REPO = HERE.parents[1]


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_manifest_reports_file_line_col(path: Path) -> None:
    text = path.read_text()
    expected = text.splitlines()[0].removeprefix("# expect: ")
    with pytest.raises(ConfigError) as info:
        parse_manifest(text, str(path), default_registry())
    messages = [str(e) for e in (info.value.errors if isinstance(info.value, ConfigErrors) else [info.value])]
    assert any(m.startswith(f"{path}:{expected}") for m in messages), messages


def test_a_bad_manifest_is_refused_and_the_others_load(tmp_path: Path) -> None:
    for name in ("good", "bad"):
        (tmp_path / name).mkdir()
    (tmp_path / "good" / "addon.yaml").write_text(
        "name: good\nversion: '1'\nsources: [{name: p, kind: ping}]\n")
    (tmp_path / "bad" / "addon.yaml").write_text((HERE / "bad_manifests" / "unknown_kind.yaml").read_text())
    loaded = load_addons(tmp_path, default_registry())
    assert sorted(loaded.manifests) == ["good"]
    assert len(loaded.errors) == 2  # unknown kind, and the name differs from the directory
    assert all(str(e).startswith(str(tmp_path / "bad" / "addon.yaml")) for e in loaded.errors)


def test_name_must_equal_directory(tmp_path: Path) -> None:
    (tmp_path / "ping2").mkdir()
    (tmp_path / "ping2" / "addon.yaml").write_text("name: ping\nversion: '1'\nsources: [{name: p, kind: ping}]\n")
    loaded = load_addons(tmp_path, default_registry())
    assert [str(e) for e in loaded.errors] == [
        f"{tmp_path / 'ping2' / 'addon.yaml'}:1:1: name 'ping' must equal the directory name 'ping2'"]


def test_every_shipped_addon_loads() -> None:
    loaded = load_addons(REPO / "addons", default_registry())
    assert not loaded.errors, [str(e) for e in loaded.errors]
    for name in ("generic-snmp", "ciena-saos", "prtg", "ciena-mcp", "netbox", "ping"):
        assert name in loaded.manifests


def test_selector_by_labels_or_by_name() -> None:
    m = parse_manifest("name: x\nversion: '1'\ntargets: {labels: {site: [ams, fra], role: core}}\n"
                       "sources: [{name: p, kind: ping}]\n", "x.yaml", default_registry())
    assert m.applies_to(Target("a", "127.0.0.1", labels={"site": "ams", "role": "core"}))
    assert not m.applies_to(Target("b", "127.0.0.1", labels={"site": "ams", "role": "edge"}))
    assert not m.applies_to(Target("c", "127.0.0.1", labels={"role": "core"}))
    assert m.applies_to(Target("d", "127.0.0.1", addons=("x",)))


def test_shipped_schema_file_is_in_sync() -> None:
    """`schemas/addon.schema.json` is generated: `python -m opsconductor.sources.schema_dump`."""
    shipped = json.loads((REPO / "schemas" / "addon.schema.json").read_text())
    assert shipped == json.loads(json.dumps(addon_schema(default_registry())))


def test_shipped_addons_validate_against_the_schema() -> None:
    import jsonschema

    from opsconductor.config.yaml_source import load_yaml

    schema = addon_schema(default_registry())
    for path in sorted((REPO / "addons").glob("*/addon.yaml")):
        jsonschema.Draft202012Validator(schema).validate(load_yaml(path).data)


def test_login_auth_needs_its_url_in_the_manifest() -> None:
    """No vendor's login path is defaulted in code: the addon says it (ciena-mcp does)."""
    text = """name: t
version: "1"
sources:
  - name: s
    kind: http
    url: "https://{{ target.address }}/api"
    auth: {type: login, token: token}
"""
    with pytest.raises(ConfigError) as info:
        parse_manifest(text, "t.yaml", default_registry())
    assert str(info.value).startswith("t.yaml:7:5: ") and "'url' is a required property" in str(info.value)
