"""Targets from the YAML inventory file (``Settings.inventory_file``).

    targets:
      - name: rtr1.ams
        address: 10.0.0.1
        port: 161                     # optional; a source's default port otherwise
        labels: {site: ams, role: core, platform: saos}
        addons: [generic-snmp]        # besides addons whose `targets.labels` match
        intervals: {generic-snmp: 30, generic-snmp/interfaces: 10}
        credential: env:RTR1_SNMP     # a reference, never the secret
        credentials: {ssh: file:/etc/opsconductor/rtr1-ssh.json}
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opsconductor.config.yaml_source import DataPath, Positions, load_yaml
from opsconductor.errors import ConfigError, ConfigErrors
from opsconductor.sources.common import validate_entry
from opsconductor.sources.credentials import REFERENCE
from opsconductor.sources.kinds import Target

REF_PATTERN = REFERENCE.pattern
NAME = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[^\s/]+$"}

TARGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "address"],
    "properties": {
        "name": {**NAME, "description": "Unique; becomes the events' resource"},
        "address": {"type": "string", "minLength": 1, "maxLength": 255},
        "port": {"type": ["integer", "null"], "minimum": 1, "maximum": 65535},
        "ports": {"type": "object", "description": "per source kind, e.g. {snmp: 1161, ssh: 2222}",
                  "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 65535}},
        "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 1024}},
        "addons": {"type": "array", "items": {"type": "string"}},
        "intervals": {"type": "object", "additionalProperties": {"type": "number", "minimum": 1}},
        "credential": {"type": ["string", "null"], "pattern": REF_PATTERN,
                       "description": "env:NAME or file:NAME in credentials_dir (never the secret itself)"},
        "credentials": {"type": "object", "additionalProperties": {"type": "string", "pattern": REF_PATTERN}},
        "enabled": {"type": "boolean"},
        "depends_on": {"type": "array", "items": NAME, "uniqueItems": True,
                       "description": "Upstream targets: while every one is down, this target's alerts are "
                                      "suppressed (topology rules)"},
    },
}

INVENTORY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"targets": {"type": "array", "items": {"type": "object"}}},
}


def target_from_dict(d: Mapping[str, Any], origin: str) -> Target:
    return Target(
        name=str(d["name"]), address=str(d["address"]), port=d.get("port"),
        labels={str(k): str(v) for k, v in (d.get("labels") or {}).items()},
        addons=tuple(d.get("addons") or ()), intervals=dict(d.get("intervals") or {}),
        credential=d.get("credential"), enabled=bool(d.get("enabled", True)),
        credentials=dict(d.get("credentials") or {}), origin=origin, ports=dict(d.get("ports") or {}),
        depends_on=tuple(str(x) for x in d.get("depends_on") or ()),
    )


def parse_targets(data: Any, positions: Positions, origin: str = "inventory") -> list[Target]:
    validate_entry(INVENTORY_SCHEMA, data if data is not None else {}, positions, ())
    out: list[Target] = []
    errors: list[ConfigError] = []
    seen: set[str] = set()
    for i, entry in enumerate((data or {}).get("targets") or ()):
        path: DataPath = ("targets", i)
        try:
            validate_entry(TARGET_SCHEMA, entry, positions, path)
        except ConfigErrors as exc:
            errors.extend(exc.errors)
            continue
        except ConfigError as exc:
            errors.append(exc)
            continue
        if entry["name"] in seen:
            errors.append(positions.error((*path, "name"), f"duplicate target name {entry['name']!r}"))
            continue
        if entry["name"] in (entry.get("depends_on") or ()):
            errors.append(positions.error((*path, "depends_on"), f"target {entry['name']!r} cannot depend on itself"))
            continue
        seen.add(entry["name"])
        out.append(target_from_dict(entry, origin))
    if errors:
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
    return out


def load_inventory(path: Path | None) -> list[Target]:
    """The inventory file's targets; a missing setting means none. Errors: file:line:col."""
    if path is None:
        return []
    doc = load_yaml(path)
    return parse_targets(doc.data, doc.positions)
