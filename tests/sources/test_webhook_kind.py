"""The webhook and snmp_trap kinds through the manifest loader: every config error as file:line:col."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from opsconductor.errors import ConfigError, ValidationFailed
from opsconductor.model.event import Severity
from opsconductor.sources.kinds import default_registry
from opsconductor.sources.manifest import Manifest, parse_manifest
from opsconductor.sources.snmp_trap import TrapSpec
from opsconductor.sources.webhook import WebhookSpec

FILE = "addons/demo/addon.yaml"
HEAD = "name: demo\nversion: '1'\nsources:\n"
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def manifest(sources: str) -> Manifest:
    return parse_manifest(HEAD + sources, FILE, default_registry(), dir_name="demo")


def error_of(sources: str) -> str:
    with pytest.raises(ConfigError) as exc:
        manifest(sources)
    return str(exc.value)


GENERIC = """\
  - name: hook
    kind: webhook
    items: "events[?kind != 'heartbeat']"
    event: "{{ item.type }}"
    resource: "{{ item.host.name }}"
    component: "{{ item.port }}"
    summary: "{{ item.type | upper }} on {{ item.host.name }}"
    value: "{{ item.metric }}"
    severity: {from: "{{ item.level }}", map: {P1: critical, P3: minor}, default: warning, label: vendor_level}
    clear_when: "{{ item.state == 'ok' }}"
    labels: {site: "{{ payload.site }}"}
    labels_from: item.tags
"""


def test_generic_webhook_mapping() -> None:
    (src,) = manifest(GENERIC).sources
    spec = src.spec
    assert isinstance(spec, WebhookSpec) and spec.addon == "demo"
    payload = {"site": "ams", "events": [
        {"kind": "alarm", "type": "port_down", "host": {"name": "sw1"}, "port": "ge-1", "level": "p1",
         "metric": "0", "tags": {"rack": "r12"}},
        {"kind": "heartbeat", "type": "hb", "host": {"name": "sw1"}},
        {"kind": "alarm", "type": "port_down", "host": {"name": "sw2"}, "level": "P9", "state": "ok",
         "metric": "1.5"},
    ]}
    first, second = spec.translate(payload, NOW, max_items=10)
    assert (first.event, first.resource, first.component, first.severity) == ("port_down", "sw1", "ge-1",
                                                                            Severity.critical)
    assert first.summary == "PORT_DOWN on sw1" and first.value == 0
    assert first.labels == {"rack": "r12", "site": "ams", "vendor_level": "p1"}
    assert (second.resource, second.severity, second.value, second.occurred_at) == ("sw2", Severity.clear, 1.5, NOW)
    assert second.component is None


def test_single_object_payload_without_items() -> None:
    (src,) = manifest('  - {name: h, kind: webhook, event: "{{ item.e }}", resource: x, severity: major}\n').sources
    (ev,) = src.spec.translate({"e": "boom"}, NOW, max_items=10)
    assert (ev.event, ev.resource, ev.severity) == ("boom", "x", Severity.major)
    with pytest.raises(ValidationFailed, match="too many items: 3 > 2"):
        src.spec.translate([{"e": "a"}] * 3, NOW, max_items=2)


@pytest.mark.parametrize(("sources", "expected"), [
    ("  - {name: h, kind: webhook, format: splunk}\n",
     f"{FILE}:4:30: unknown format 'splunk'; expected one of: alertmanager"),
    ("  - name: h\n    kind: webhook\n    event: x\n    resource: y\n    colour: red\n",
     f"{FILE}:8:5: unknown key 'colour'; expected one of: clear_when, component, description, event, "
     "items, keep_raw, kind, labels, labels_from, name, occurred_at, resource, severity, summary, value"),
    ("  - name: h\n    kind: webhook\n    event: '{{ item.x '\n    resource: y\n",
     f"{FILE}:6:5: template error: unexpected end of template, expected 'end of print statement'."),
    ("  - name: h\n    kind: webhook\n    items: 'alerts[?'\n    event: x\n    resource: y\n",
     f"{FILE}:6:5: invalid JMESPath expression 'alerts[?': incomplete expression at character 9"),
    ("  - name: h\n    kind: webhook\n    resource: y\n", f"{FILE}:4:5: missing 'event' (a template)"),
    ("  - name: h\n    kind: webhook\n    event: x\n    resource: y\n"
     "    severity: {from: '{{ item.s }}', map: {a: bad}}\n",
     f"{FILE}:8:44: unknown severity 'bad'; expected one of: critical, major, minor, warning, info, clear"),
    ("  - name: h\n    kind: webhook\n    event: x\n    resource: y\n    severity: loud\n",
     f"{FILE}:8:5: unknown severity 'loud'; expected one of: critical, major, minor, warning, info, clear"),
    ("  - name: h\n    kind: webhook\n    format: alertmanager\n    options: {resource_label: instance}\n",
     f"{FILE}:7:15: unknown key 'resource_label'; expected one of: annotation_prefix, component_labels, "
     "firing_time, keep_raw, resource_default, resource_labels, severity_default, severity_label, severity_map, "
     "strip_port, summary_annotations"),
    ("  - name: h\n    kind: webhook\n    format: alertmanager\n    options: {firing_time: now}\n",
     f"{FILE}:7:15: must be 'received' or 'starts_at'"),
    ("  - name: h\n    kind: webhook\n    format: alertmanager\n    options: {severity_map: {p1: urgent}}\n",
     f"{FILE}:7:30: unknown severity 'urgent'; expected one of: critical, major, minor, warning, info, clear"),
    ("  - name: h\n    kind: webhook\n    format: alertmanager\n    options: {resource_labels: [1]}\n",
     f"{FILE}:7:15: must be a list of label names"),
    ("  - name: h\n    kind: webhook\n    format: alertmanager\n    options: {strip_port: 'yes'}\n",
     f"{FILE}:7:15: must be true or false"),
])
def test_webhook_config_errors(sources: str, expected: str) -> None:
    assert error_of(sources) == expected


TRAPS = "  - name: t\n    kind: snmp_trap\n"


@pytest.mark.parametrize(("sources", "expected"), [
    (TRAPS, f"{FILE}:4:5: needs 'traps': a list of {{oid, event, ...}}"),
    (TRAPS + "    traps:\n      - {oid: IF-MIB::linkDwn, event: link_down}\n",
     f"{FILE}:7:10: unknown MIB object 'linkDwn' in IF-MIB"),
    (TRAPS + "    traps:\n      - {event: link_down}\n",
     f"{FILE}:7:9: needs 'oid' (the trap OID, 'x.y.*' or '*')"),
    (TRAPS + "    traps:\n      - {oid: 1.3.6.1.6.3.1.1.5.3}\n", f"{FILE}:7:9: missing 'event' (a template)"),
    (TRAPS + "    varbinds: {index: 1.3.6.1.2.1.2.2.1.1}\n    traps: [{oid: '*', event: x}]\n",
     f"{FILE}:6:16: 'index' cannot be a varbind name (use letters, digits, _; not one of agent_address, "
     "agent_port, index, oids, target, trap_name, trap_oid, uptime, vb, version)"),
    (TRAPS + "    varbinds: {st: {oid: 1.3.6.1.2.1.2.2.1.8, map: if_status}}\n    traps: [{oid: '*', event: x}]\n",
     f"{FILE}:6:47: unknown value map 'if_status'; one of ['if_admin_status', 'if_oper_status', "
     "'x733_severity']"),
    (TRAPS + "    traps:\n      - {oid: '*', event: x, summary: '{% if %}'}\n",
     f"{FILE}:7:30: template error: Expected an expression, got 'end of statement block'"),
    (TRAPS + "    traps:\n      - {oid: '*', event: x, mib: IF-MIB}\n",
     f"{FILE}:7:30: unknown key 'mib'; expected one of: clear_when, component, description, event, labels, "
     "labels_from, name, occurred_at, oid, resource, severity, summary, value, varbind_labels, varbinds"),
])
def test_snmp_trap_config_errors(sources: str, expected: str) -> None:
    assert error_of(sources) == expected


def test_several_errors_are_reported_together() -> None:
    text = error_of(TRAPS + "    traps:\n      - {oid: x, event: a}\n      - {oid: 1.3.6, severity: wild, event: b}\n")
    assert text.splitlines() == [
        f"{FILE}:7:10: unknown MIB object 'x' (not in the default MIBs, see docs/addons.md; "
        "write MODULE::x for another module)",
        f"{FILE}:8:22: unknown severity 'wild'; expected one of: critical, major, minor, warning, info, clear",
    ]


def test_trap_spec_from_manifest() -> None:
    (src,) = manifest(TRAPS + "    resource: '{{ vb.sysName }}'\n"
                              "    varbinds: {sysName: 1.3.6.1.2.1.1.5}\n"
                              "    traps:\n      - {oid: .1.3.6.1.4.1.9.*, event: cisco}\n").sources
    spec = src.spec
    assert isinstance(spec, TrapSpec) and spec.addon == "demo"
    (rule,) = spec.rules
    assert (rule.oid, rule.prefix, [v.name for v in rule.varbinds]) == ("1.3.6.1.4.1.9", True, ["sysName"])
