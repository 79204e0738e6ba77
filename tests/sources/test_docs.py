"""Every example in docs/addons.md is run here, and its first-addon example is used to prove
that a new device type is a YAML change: a brand-new manifest + inventory -> alerts from snmpd."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from opsconductor.config.yaml_source import parse_yaml
from opsconductor.normalize.parsers import build_parser
from opsconductor.sources.inventory import parse_targets
from opsconductor.sources.kinds import default_registry
from opsconductor.sources.manifest import parse_manifest
from tests.sources.peers import SnmpAgent
from tests.sources.waits import alerts, wait_for
from tests.support.server import start_live_server

DOC = Path(__file__).resolve().parents[2] / "docs" / "addons.md"
BLOCK = re.compile(r"```yaml\n# example: (?P<kind>\w+)(?: (?P<arg>\S+))?\n(?P<body>.*?)```", re.S)


def examples(kind: str) -> list[tuple[str | None, str]]:
    return [(m["arg"], m["body"]) for m in BLOCK.finditer(DOC.read_text()) if m["kind"] == kind]


def _indent(text: str, n: int) -> str:
    return "\n".join(" " * n + line for line in text.splitlines())


def test_the_doc_has_examples_of_each_kind() -> None:
    counts = {k: len(examples(k)) for k in ("manifest", "inventory", "source", "fields", "events", "parser")}
    assert all(counts.values()), counts
    assert counts["source"] == 4 and counts["parser"] == 4


@pytest.mark.parametrize("body", [b for _, b in examples("source")])
def test_source_examples_load(body: str) -> None:
    m = parse_manifest("name: x\nversion: '1'\nsources:\n  -\n" + _indent(body, 4), "docs.yaml", default_registry())
    assert len(m.sources) == 1


def test_fields_and_events_examples_load() -> None:
    [(_, fields), (_, metrics)] = examples("fields")
    [(_, events)] = examples("events")
    text = ("name: x\nversion: '1'\nsources:\n  - name: s\n    kind: snmp\n    scalars: {a: 1.3.6.1.2.1.1.3.0}\n"
            "    fields:\n" + _indent(fields + "\n" + metrics, 6) + "\n    events:\n" + _indent(events, 6) + "\n")
    src = parse_manifest(text, "docs.yaml", default_registry()).sources[0].spec.common
    assert set(src.fields) == {"ifOperStatus", "state", "sysUpTime", "rx", "ifInErrors", "ifHCInOctets", "utilIn"}
    assert src.fields["ifHCInOctets"].rate == "counter64" and src.fields["utilIn"].compute is not None
    assert src.events[0].when == "change"


def test_inventory_example_loads() -> None:
    [(_, body)] = examples("inventory")
    doc = parse_yaml(body, "inventory.yaml")
    [t] = parse_targets(doc.data, doc.positions)
    assert t.labels["vendor"] == "acme" and t.credential == "env:UPS_COMMUNITY"


@pytest.mark.parametrize("body", [b for _, b in examples("parser")])
def test_parser_examples_give_their_output(body: str) -> None:
    ex: Any = parse_yaml(body, "parser.yaml").data
    assert build_parser(ex["parser"]).run(ex["input"]) == ex["output"]


async def test_new_device_type_is_a_yaml_change(settings_factory, tmp_path: Path, monkeypatch) -> None:
    [(name, manifest)] = examples("manifest")
    assert name == "acme-ups"
    agent = SnmpAgent(tmp_path / "snmpd")
    agent.location = "on-battery"
    agent.start()
    try:
        (tmp_path / "addons" / "acme-ups").mkdir(parents=True)
        (tmp_path / "addons" / "acme-ups" / "addon.yaml").write_text(manifest)
        monkeypatch.setenv("UPS_COMMUNITY", agent.community)
        [(_, inventory)] = examples("inventory")
        inventory = inventory.replace("192.0.2.10", f"127.0.0.1\n    port: {agent.port}").replace(
            "{acme-ups: 30}", "{acme-ups: 1}")
        (tmp_path / "inventory.yaml").write_text(inventory)
        settings = settings_factory(addons_dir=tmp_path / "addons", inventory_file=tmp_path / "inventory.yaml")
        async with start_live_server(settings) as srv, srv.client(srv.read_key) as c:
            [a] = await wait_for(lambda: alerts(c, event="ups_on_battery"), what="ups_on_battery alert")
            assert (a["resource"], a["severity"], a["source"]) == ("ups1.ams", "major", "acme-ups/battery")
            assert a["summary"] == "UPS ups1.ams status on-battery"
            agent.location = "online"
            agent.restart()
            await wait_for(lambda: _none(alerts(c, event="ups_on_battery")), timeout=20, what="back online")
    finally:
        agent.stop()


async def _none(coro):  # type: ignore[no-untyped-def]
    return not await coro
