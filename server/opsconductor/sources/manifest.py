"""Addon manifests: ``addons/<name>/addon.yaml`` -> validated, immutable :class:`Manifest`.

The loader checks the envelope (name, version, description, targets, sources) and hands
each source entry to its kind's ``parse()`` from the :class:`Registry`, so pushed kinds
(snmp_trap, webhook) and polled kinds load the same way. Every problem is reported as
``file:line:col: message``; :func:`load_addons` refuses a bad manifest and keeps the others.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsconductor.config.yaml_source import load_yaml, parse_yaml
from opsconductor.errors import ConfigError, ConfigErrors
from opsconductor.sources.common import DEFS, validate_entry
from opsconductor.sources.kinds import Registry, Target

log = logging.getLogger(__name__)

MANIFEST_FILE = "addon.yaml"
NAME_PATTERN = "^[a-z0-9][a-z0-9_-]*$"

ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "version", "sources"],
    "properties": {
        "name": {"type": "string", "pattern": NAME_PATTERN, "description": "Equals the addon's directory name"},
        "version": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "targets": {
            "type": "object",
            "additionalProperties": False,
            "description": "Inventory targets this addon applies to (besides targets that list it by name)",
            "properties": {
                "labels": {
                    "type": "object",
                    "description": "All must match; a list means any of these values",
                    "additionalProperties": {"oneOf": [{"type": "string"},
                                                       {"type": "array", "items": {"type": "string"}}]},
                },
            },
        },
        "sources": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "object", "required": ["kind", "name"],
                      "properties": {"kind": {"type": "string"}, "name": {"type": "string"}}},
        },
    },
}


@dataclass(frozen=True)
class SourceEntry:
    name: str
    kind: str
    spec: Any


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    description: str
    path: Path
    labels: Mapping[str, tuple[str, ...]]
    sources: tuple[SourceEntry, ...]
    digest: str = ""  # of the manifest's content: a changed file resets change-detection state

    def applies_to(self, target: Target) -> bool:
        """Listed by name on the target, or every selector label matches."""
        if self.name in target.addons:
            return True
        if not self.labels:
            return False
        return all(target.labels.get(k) in allowed for k, allowed in self.labels.items())


@dataclass
class AddonSet:
    """The manifests that loaded, and the errors of those refused."""

    manifests: dict[str, Manifest] = field(default_factory=dict)
    errors: list[ConfigError] = field(default_factory=list)


def parse_manifest(text: str, file: str, registry: Registry, *, dir_name: str | None = None) -> Manifest:
    doc = parse_yaml(text, file)
    return _build(doc.data, doc.positions, Path(file), registry, dir_name)


def load_manifest(path: Path, registry: Registry) -> Manifest:
    doc = load_yaml(path)
    return _build(doc.data, doc.positions, path, registry, path.parent.name)


def _build(data: Any, positions: Any, path: Path, registry: Registry, dir_name: str | None) -> Manifest:
    if not isinstance(data, dict):
        raise ConfigError("an addon manifest must be a mapping", positions.at(()))
    validate_entry(ENVELOPE_SCHEMA, data, positions, ())
    errors: list[ConfigError] = []
    if dir_name is not None and data["name"] != dir_name:
        errors.append(positions.error(("name",), f"name {data['name']!r} must equal the directory name {dir_name!r}"))
    sources: list[SourceEntry] = []
    seen: set[str] = set()
    for i, entry in enumerate(data["sources"]):
        kind = registry.get(entry["kind"])
        if kind is None:
            errors.append(positions.error(("sources", i, "kind"),
                                          f"unknown source kind {entry['kind']!r}; one of {registry.names()}"))
            continue
        if entry["name"] in seen:
            errors.append(positions.error(("sources", i, "name"), f"duplicate source name {entry['name']!r}"))
            continue
        seen.add(entry["name"])
        try:
            sources.append(SourceEntry(entry["name"], kind.name, kind.parse(entry, positions, ("sources", i))))
        except ConfigErrors as exc:
            errors.extend(exc.errors)
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
    labels = {k: (v,) if isinstance(v, str) else tuple(v)
              for k, v in ((data.get("targets") or {}).get("labels") or {}).items()}
    return Manifest(name=data["name"], version=str(data["version"]), description=data.get("description", ""),
                    path=path, labels=labels, sources=tuple(sources),
                    digest=hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest())


def load_addons(addons_dir: Path, registry: Registry) -> AddonSet:
    """Every ``<dir>/*/addon.yaml``; a bad one is refused (and reported), the others load."""
    out = AddonSet()
    if not addons_dir.is_dir():
        return out
    for path in sorted(addons_dir.glob(f"*/{MANIFEST_FILE}")):
        try:
            m = load_manifest(path, registry)
        except ConfigErrors as exc:
            out.errors.extend(exc.errors)
            log.error("addon refused:\n%s", exc)
            continue
        except ConfigError as exc:
            out.errors.append(exc)
            log.error("addon refused: %s", exc)
            continue
        out.manifests[m.name] = m
    return out


def addon_schema(registry: Registry) -> dict[str, Any]:
    """The JSON Schema of an addon manifest, assembled from the envelope and every kind."""
    kinds = {name: registry.get(name) for name in registry.names()}
    defs: dict[str, Any] = dict(DEFS)
    for name, kind in kinds.items():
        assert kind is not None
        s = dict(kind.schema())
        defs.update(s.pop("$defs", {}))
        defs[f"source_{name}"] = s
    envelope = json.loads(json.dumps(ENVELOPE_SCHEMA))
    envelope["properties"]["sources"]["items"] = {"oneOf": [{"$ref": f"#/$defs/source_{n}"} for n in kinds]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://opsconductor.dev/schemas/addon.schema.json",
        "title": "OpsConductor addon manifest",
        **envelope,
        "$defs": defs,
    }
