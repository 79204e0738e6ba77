"""The ``snmp_trap`` source kind: trap OID -> event, varbinds -> fields (pure; no sockets here).

A manifest names the varbinds it cares about by OID (a column OID matches its instances,
``ifIndex`` 1.3.6.1.2.1.2.2.1.1 matches ``...1.1.3``, whose index ``3`` is then available as
``index.ifIndex``), optionally through a value map, and maps each trap OID to an event::

    sources:
      - name: standard
        kind: snmp_trap
        varbinds:
          ifIndex: 1.3.6.1.2.1.2.2.1.1
          ifAdminStatus: {oid: 1.3.6.1.2.1.2.2.1.7, map: if_admin_status}
        traps:
          - oid: 1.3.6.1.6.3.1.1.5.3          # linkDown
            event: link_down
            severity: major
            component: "{{ ifName or ifDescr or ifIndex }}"

Templates see the declared varbinds by name, plus ``agent_address``, ``agent_port``,
``version``, ``trap_oid``, ``uptime``, ``target`` (the inventory target whose address the
trap came from — name, address, port, labels, as in polled sources — or empty), ``vb`` /
``index`` (declared name -> value / instance suffix) and ``oids`` (every varbind by dotted
OID). The resource defaults to ``target.name`` or else the agent's address. ``oid: "*"``
catches traps no other rule maps; ``oid: 1.3.6.1.4.1.9.*`` matches a subtree. The receiver
process (``snmp_trap_process.py``) feeds :func:`traps_to_events`.

Every event carries the target's labels under the rule's own. ``varbind_labels: N`` (default
20 on ``oid: "*"``, else 0) keeps the first N varbinds as labels (OID -> value, 256 characters
at most), so a trap no addon maps still says what it carried. ``agent_address: v1_agent_addr``
on a source takes an SNMPv1 trap's agent-addr field (``snmpTrapAddress.0``, RFC 3584) as the
agent's address instead of the UDP sender's: for traps that come through a relay.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opsconductor.config.yaml_source import DataPath, Positions
from opsconductor.errors import ConfigError, ConfigErrors
from opsconductor.model.event import NormalizedEvent
from opsconductor.normalize.push_mapping import (
    EVENT_KEYS,
    EventTemplate,
    Template,
    check_keys,
    compile_event_template,
    compile_template,
    template_environment,
)
from opsconductor.normalize.valuemaps import BUILTIN_MAPS, apply_map, normalize_map
from opsconductor.sources.mibs import OID_OR_NAME, MibError, MibResolver

SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"  # snmpTrapOID.0 (SNMPv2-MIB, RFC 3418)
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"  # sysUpTime.0 (SNMPv2-MIB, RFC 3418)
SNMP_TRAP_ADDRESS = "1.3.6.1.6.3.18.1.3.0"  # snmpTrapAddress.0 (RFC 3584): a v1 trap's agent-addr
LABEL_VALUE_MAX = 256
_RESERVED = frozenset({"agent_address", "agent_port", "version", "trap_oid", "trap_name", "uptime", "target", "vb",
                       "index", "oids"})
_SOURCE_KEYS = frozenset({"name", "kind", "description", "varbinds", "traps", "resource", "agent_address"})
_RULE_KEYS = EVENT_KEYS | {"oid", "name", "description", "varbinds", "varbind_labels"}


@dataclass(frozen=True, slots=True)
class ReceivedTrap:
    """One notification as the receiver got it; values are plain Python (see snmp_trap_ber)."""

    address: str
    port: int
    version: str  # v1 | v2c | v3
    trap_oid: str
    varbinds: tuple[tuple[str, Any], ...]  # without sysUpTime.0 and snmpTrapOID.0
    received_at: datetime
    uptime: int | None = None
    inform: bool = False


@dataclass(frozen=True)
class VarbindDef:
    name: str
    oid: str
    map: Mapping[Any, str] | None = None


@dataclass(frozen=True)
class TrapRule:
    oid: str  # "" with prefix=True: every trap
    prefix: bool
    template: EventTemplate
    varbinds: tuple[VarbindDef, ...]
    varbind_labels: int = 0  # the first N varbinds become labels

    @property
    def by_oid(self) -> dict[str, VarbindDef]:
        cached: dict[str, VarbindDef] | None = self.__dict__.get("_by_oid")
        if cached is None:
            cached = {d.oid: d for d in self.varbinds}
            object.__setattr__(self, "_by_oid", cached)
        return cached


@dataclass(frozen=True)
class TrapSpec:
    """One validated snmp_trap source."""

    name: str
    addon: str
    rules: tuple[TrapRule, ...]
    resource: Template | None = None
    agent_address: str = "sender"  # or "v1_agent_addr"


def _oid_text(value: Any, positions: Positions, path: DataPath, mibs: MibResolver) -> str:
    """A numeric OID, or a MIB name (``IF-MIB::linkDown``) resolved to one."""
    try:
        return mibs.resolve(str(value))
    except MibError as exc:
        raise positions.error(path, str(exc)) from None


def _parse_varbinds(raw: Any, positions: Positions, path: DataPath, mibs: MibResolver) -> tuple[VarbindDef, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise positions.error(path, "must be a mapping of name -> OID (or {oid, map})")
    out: list[VarbindDef] = []
    for name, spec in raw.items():
        p = (*path, str(name))
        if not re.match(r"^[A-Za-z_]\w*$", str(name)) or name in _RESERVED:
            raise positions.error(p, f"{name!r} cannot be a varbind name (use letters, digits, _; "
                                     f"not one of {', '.join(sorted(_RESERVED))})")
        vmap: Mapping[Any, str] | None = None
        if isinstance(spec, dict):
            check_keys(spec, frozenset({"oid", "map"}), positions, p)
            if "oid" not in spec:
                raise positions.error(p, "needs 'oid'")
            oid = _oid_text(spec["oid"], positions, (*p, "oid"), mibs)
            m = spec.get("map")
            if isinstance(m, str):
                if m not in BUILTIN_MAPS:
                    raise positions.error((*p, "map"), f"unknown value map {m!r}; one of {sorted(BUILTIN_MAPS)}")
                vmap = BUILTIN_MAPS[m]
            elif isinstance(m, dict):
                vmap = normalize_map(m)
            elif m is not None:
                raise positions.error((*p, "map"), "must be a value map name or a mapping")
        else:
            oid = _oid_text(spec, positions, p, mibs)
        out.append(VarbindDef(str(name), oid, vmap))
    return tuple(out)


class SnmpTrapKind:
    """``kind: snmp_trap`` — received by the trap receiver, never polled."""

    name = "snmp_trap"
    polled = False

    def __init__(self, mibs: MibResolver | None = None):
        self.mibs = mibs or MibResolver()

    def schema(self) -> dict[str, Any]:
        template = {"type": "string"}
        oid = {"type": "string", "pattern": OID_OR_NAME, "description": "numeric OID or MIB name"}
        varbinds = {"type": "object", "additionalProperties": {"oneOf": [
            oid, {"type": "object", "required": ["oid"], "additionalProperties": False,
                  "properties": {"oid": oid, "map": {"oneOf": [{"type": "string"}, {"type": "object"}]}}}]}}
        rule = {
            "type": "object", "required": ["oid", "event"], "additionalProperties": False,
            "properties": {
                "oid": {"type": "string", "description": "Trap OID, a subtree 'x.y.*', or '*'"},
                "name": {"type": "string"}, "description": {"type": "string"}, "varbinds": varbinds,
                **{k: template for k in ("event", "resource", "component", "summary", "value", "occurred_at",
                                         "clear_when")},
                "severity": {"oneOf": [{"type": "string"}, {"type": "object"}]},
                "labels": {"type": "object", "additionalProperties": template},
                "labels_from": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                "varbind_labels": {"type": "integer", "minimum": 0, "maximum": 50,
                                   "description": "keep the first N varbinds as labels (default 20 on '*')"},
            },
        }
        return {
            "type": "object", "required": ["name", "kind", "traps"], "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"},
                "kind": {"const": "snmp_trap"}, "description": {"type": "string"},
                "resource": template, "varbinds": varbinds,
                "agent_address": {"enum": ["sender", "v1_agent_addr"],
                                  "description": "v1_agent_addr: an SNMPv1 trap's agent-addr (relays)"},
                "traps": {"type": "array", "minItems": 1, "items": rule},
            },
        }

    def parse(self, entry: Mapping[str, Any], positions: Positions, path: DataPath) -> TrapSpec:
        check_keys(entry, _SOURCE_KEYS, positions, path)
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise positions.error(path, "a source needs a 'name'")
        env = template_environment()
        common = _parse_varbinds(entry.get("varbinds"), positions, (*path, "varbinds"), self.mibs)
        resource = compile_template(env, entry["resource"], positions, (*path, "resource")) \
            if "resource" in entry else None
        traps = entry.get("traps")
        if not isinstance(traps, list) or not traps:
            raise positions.error((*path, "traps") if "traps" in entry else path,
                                  "needs 'traps': a list of {oid, event, ...}")
        rules: list[TrapRule] = []
        errors: list[ConfigError] = []
        for i, r in enumerate(traps):
            p = (*path, "traps", i)
            try:
                if not isinstance(r, dict):
                    raise positions.error(p, "a trap rule must be a mapping")
                check_keys(r, _RULE_KEYS, positions, p)
                if "oid" not in r:
                    raise positions.error(p, "needs 'oid' (the trap OID, 'x.y.*' or '*')")
                raw_oid = str(r["oid"]).strip()
                if raw_oid == "*":
                    oid, prefix = "", True
                elif raw_oid.endswith(".*"):
                    oid, prefix = _oid_text(raw_oid[:-2], positions, (*p, "oid"), self.mibs), True
                else:
                    oid, prefix = _oid_text(raw_oid, positions, (*p, "oid"), self.mibs), False
                own = _parse_varbinds(r.get("varbinds"), positions, (*p, "varbinds"), self.mibs)
                own_names = {v.name for v in own}
                template = compile_event_template(env, r, positions, p, required=("event",))
                labels_n = r.get("varbind_labels", 20 if raw_oid == "*" else 0)
                if not isinstance(labels_n, int) or isinstance(labels_n, bool) or not 0 <= labels_n <= 50:
                    raise positions.error((*p, "varbind_labels"), "must be a number from 0 to 50")
                rules.append(TrapRule(oid, prefix, template,
                                      (*own, *(v for v in common if v.name not in own_names)), labels_n))
            except ConfigErrors as exc:
                errors.extend(exc.errors)
            except ConfigError as exc:
                errors.append(exc)
        if errors:
            raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
        agent = entry.get("agent_address", "sender")
        if agent not in ("sender", "v1_agent_addr"):
            raise positions.error((*path, "agent_address"), "must be 'sender' or 'v1_agent_addr'")
        return TrapSpec(name=name, addon=_addon_name(positions), rules=tuple(rules), resource=resource,
                        agent_address=agent)


def _addon_name(positions: Positions) -> str:
    parts = positions.file.replace("\\", "/").split("/")
    return parts[-2] if len(parts) >= 2 and parts[-1].startswith("addon.") else parts[-1]


@dataclass
class TrapTable:
    """Trap OID -> (spec, rule): exact OIDs first, then the longest subtree, then catch-alls."""

    exact: dict[str, tuple[TrapSpec, TrapRule]] = field(default_factory=dict)
    subtrees: list[tuple[str, TrapSpec, TrapRule]] = field(default_factory=list)

    @classmethod
    def build(cls, specs: Sequence[TrapSpec]) -> TrapTable:
        table = cls()
        for spec in specs:  # addon name order: the first addon to map an OID wins
            for rule in spec.rules:
                if rule.prefix:
                    table.subtrees.append((rule.oid + "." if rule.oid else "", spec, rule))
                else:
                    table.exact.setdefault(rule.oid, (spec, rule))
        table.subtrees.sort(key=lambda t: -len(t[0]))
        return table

    def match(self, trap_oid: str) -> tuple[TrapSpec, TrapRule] | None:
        hit = self.exact.get(trap_oid)
        if hit is not None:
            return hit
        for prefix, spec, rule in self.subtrees:
            if trap_oid.startswith(prefix):
                return spec, rule
        return None


def value_text(value: Any) -> Any:
    """A varbind value for templates: printable octets as text, other octets as colon hex (MACs)."""
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return ":".join(f"{b:02x}" for b in value)
        if text.isprintable() or not text:
            return text
        return ":".join(f"{b:02x}" for b in value)
    return value


TargetLookup = Callable[[str], Mapping[str, Any] | None]
"""Agent address -> its inventory target as a mapping (name, address, port, labels), or None."""

OidNames = Callable[[str], str | None]
"""Numeric OID -> its MIB name (``IF-MIB::ifOperStatus.5``) where a loaded MIB has one (MibResolver.name)."""


def _no_names(_oid: str) -> str | None:
    return None


def trap_context(trap: ReceivedTrap, rule: TrapRule, target: Mapping[str, Any],
                 names: OidNames = _no_names) -> dict[str, Any]:
    oids = {oid: value_text(v) for oid, v in trap.varbinds}
    vb: dict[str, Any] = {}
    index: dict[str, str] = {}
    by_oid = rule.by_oid
    for oid, value in oids.items():
        # Walk up the OID (instance -> column) until a declared varbind matches.
        head = oid
        while True:
            d = by_oid.get(head)
            if d is not None:
                if d.name not in vb:
                    vb[d.name] = apply_map(d.map, value) if d.map is not None else value
                    index[d.name] = oid[len(head) + 1:]
                break
            cut = head.rfind(".")
            if cut <= 0:
                break
            head = head[:cut]
    return {**vb, "agent_address": trap.address, "agent_port": trap.port, "version": trap.version,
            "trap_oid": trap.trap_oid, "trap_name": names(trap.trap_oid) or trap.trap_oid, "uptime": trap.uptime,
            "target": target, "vb": vb, "index": index, "oids": oids}


def _varbind_labels(trap: ReceivedTrap, n: int, names: OidNames) -> dict[str, str]:
    """The first n varbinds as ``name: value`` (the MIB name where one is loaded, else the OID)."""
    return {names(oid) or oid: str(value_text(v))[:LABEL_VALUE_MAX] for oid, v in trap.varbinds[:n]}


def trap_raw(trap: ReceivedTrap) -> dict[str, Any]:
    return {"agent": trap.address, "version": trap.version, "trap_oid": trap.trap_oid, "uptime": trap.uptime,
            "varbinds": [[oid, value_text(v) if isinstance(v, bytes) else v] for oid, v in trap.varbinds]}


@dataclass
class TranslateStats:
    unmapped: int = 0
    invalid: int = 0
    errors: list[str] = field(default_factory=list)  # first few, for the log


def traps_to_events(
    traps: Sequence[ReceivedTrap], table: TrapTable, targets: TargetLookup = lambda _a: None,
    names: OidNames = _no_names,
) -> tuple[list[NormalizedEvent], TranslateStats]:
    """Events for the traps that a rule maps; unmapped and unrenderable traps are counted, not raised."""
    events: list[NormalizedEvent] = []
    stats = TranslateStats()
    for trap in traps:
        hit = table.match(trap.trap_oid)
        if hit is None:
            stats.unmapped += 1
            continue
        spec, rule = hit
        if spec.agent_address == "v1_agent_addr" and trap.version == "v1":
            agent = str(dict(trap.varbinds).get(SNMP_TRAP_ADDRESS) or trap.address)
            if agent not in ("0.0.0.0", trap.address):
                trap = dataclasses.replace(trap, address=agent)
        target = targets(trap.address) or {}
        ctx = trap_context(trap, rule, target, names)
        default_resource = (spec.resource.render(ctx) if spec.resource else "") or target.get("name") or trap.address
        try:
            ev = rule.template.render(
                ctx, source=spec.addon, raw=trap_raw(trap), now=trap.received_at,
                defaults={"resource": default_resource, "occurred_at": trap.received_at.isoformat()},
            )
            extra = {**(target.get("labels") or {}), **_varbind_labels(trap, rule.varbind_labels, names)}
            events.append(ev.model_copy(update={"labels": {**extra, **ev.labels}}) if extra else ev)
        except ValueError as exc:
            stats.invalid += 1
            if len(stats.errors) < 5:
                stats.errors.append(f"{spec.addon}/{spec.name} trap {trap.trap_oid} from {trap.address}: "
                                    f"{str(exc).splitlines()[0]}")
    return events, stats
