"""What every source kind's entry shares: JSON-Schema validation with file:line:col,
templates, the ``fields:`` transforms and the ``events:`` rules.

Kinds validate their entry against their own :meth:`schema` with :func:`validate_entry`
(so the shipped ``schemas/addon.schema.json`` and the loader can never disagree), then
compile the parts with the helpers below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from opsconductor.config.yaml_source import DataPath, Positions
from opsconductor.errors import ConfigError, ConfigErrors
from opsconductor.model.event import Severity
from opsconductor.normalize.metrics import RATE_KINDS
from opsconductor.normalize.records import WHEN, EventRule, FieldTransform, SeveritySpec, Template, is_condition
from opsconductor.normalize.units import CONVERSIONS, build_threshold
from opsconductor.normalize.valuemaps import BUILTIN_MAPS, normalize_map

SEVERITIES = [s.value for s in Severity]

COMMON_PROPERTIES: dict[str, Any] = {
    "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$", "description": "Unique within the addon"},
    "interval": {"type": "number", "minimum": 1, "description": "Seconds between polls (per target override)"},
    "timeout": {"type": "number", "exclusiveMinimum": 0, "description": "Seconds before a poll gives up"},
    "fields": {"type": "object", "additionalProperties": {"$ref": "#/$defs/field_transform"}},
    "events": {"type": "array", "items": {"$ref": "#/$defs/event_rule"}},
    "on_unreachable": {"$ref": "#/$defs/on_unreachable"},
}

DEFS: dict[str, Any] = {
    "template": {"type": "string", "description": "Text, or a jinja2 template over the record ({{ ifName }})"},
    "field_transform": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "map": {"oneOf": [{"type": "string", "enum": sorted(BUILTIN_MAPS)},
                              {"type": "object", "additionalProperties": {"type": "string"}}],
                    "description": f"a built-in map ({', '.join(sorted(BUILTIN_MAPS))}) or an inline mapping"},
            "default": {"type": "string"},
            "convert": {"type": "array", "items": {"type": "string", "enum": sorted(CONVERSIONS)}},
            "rate": {"type": "string", "enum": list(RATE_KINDS),
                     "description": "an SNMP counter: the field becomes its increase per second"},
            "compute": {"$ref": "#/$defs/template",
                        "description": "a new numeric field from the row (after rates), e.g. utilisation %"},
        },
    },
    "event_rule": {
        "type": "object",
        "additionalProperties": False,
        "required": ["event"],
        "properties": {
            "event": {"$ref": "#/$defs/template"},
            "when": {"type": "string", "enum": list(WHEN)},
            "field": {"type": "string"},
            "initial": {"type": "boolean"},
            "resource": {"$ref": "#/$defs/template"},
            "component": {"$ref": "#/$defs/template"},
            "severity": {"oneOf": [{"$ref": "#/$defs/template"},
                                   {"type": "object", "additionalProperties": {"type": "string", "enum": SEVERITIES}}]},
            "summary": {"$ref": "#/$defs/template"},
            "value": {"$ref": "#/$defs/template"},
            "labels": {"type": "object", "additionalProperties": {"$ref": "#/$defs/template"}},
            "threshold": {
                "type": "object",
                "additionalProperties": False,
                "properties": {**{d: {"type": "object", "additionalProperties": {"type": "number"}}
                                  for d in ("above", "below")},
                               "hysteresis": {"type": "number", "minimum": 0,
                                              "description": "a level clears only this far back past it"}},
            },
            "only": {"type": "object", "additionalProperties": {"type": "array"}},
            "for": {"type": "integer", "minimum": 1,
                    "description": "threshold: raise a level only after this many polls in a row"},
            "reassert": {"type": "boolean",
                         "description": "send the condition's current state on every poll (default: true when "
                                        "the severity follows the value - a map, a template or a threshold)"},
        },
    },
    "on_unreachable": {
        "type": "object",
        "additionalProperties": False,
        "required": ["event"],
        "properties": {
            "event": {"type": "string"},
            "severity": {"type": "string", "enum": SEVERITIES},
            "summary": {"type": "string"},
        },
    },
}


@dataclass(frozen=True)
class CommonSpec:
    """The parts of a source entry every kind shares (the poller reads these)."""

    name: str
    kind: str
    interval: float
    timeout: float
    fields: Mapping[str, FieldTransform]
    events: tuple[EventRule, ...]
    on_unreachable: Mapping[str, str] | None


def parse_common(entry: Mapping[str, Any], positions: Positions, path: DataPath, *,
                 default_interval: float = 60.0, default_timeout: float = 10.0) -> CommonSpec:
    """Compile the shared parts after :func:`validate_entry` has checked the structure."""
    env = SandboxedEnvironment(autoescape=False)
    return CommonSpec(
        name=str(entry["name"]),
        kind=str(entry["kind"]),
        interval=float(entry.get("interval", default_interval)),
        timeout=float(entry.get("timeout", default_timeout)),
        fields=parse_fields(entry, positions, path),
        events=parse_events(entry, env, positions, path),
        on_unreachable=dict(entry["on_unreachable"]) if entry.get("on_unreachable") else None,
    )


def kind_schema(kind: str, properties: Mapping[str, Any], *, required: tuple[str, ...] = (),
                description: str = "", extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A kind's entry schema: the common properties plus its own."""
    return {
        "type": "object",
        "description": description,
        "additionalProperties": False,
        "required": ["name", "kind", *required],
        "properties": {"kind": {"const": kind}, **COMMON_PROPERTIES, **properties},
        **(extra or {}),
    }


def validate_entry(schema: Mapping[str, Any], entry: Any, positions: Positions, path: DataPath) -> None:
    """Validate ``entry`` against a kind's schema; every error as ``file:line:col: message``."""
    full = {**schema, "$defs": {**DEFS, **schema.get("$defs", {})}}
    validator = jsonschema.Draft202012Validator(full)
    errors = []
    for err in sorted(validator.iter_errors(entry), key=lambda e: list(map(str, e.absolute_path))):
        where = (*path, *err.absolute_path)
        msg = err.message
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})), key=str)
            if extra:
                where = (*where, str(extra[0]))
                msg = f"unknown option {extra[0]!r}; expected one of {sorted(err.schema.get('properties', {}))}"
        elif err.validator == "pattern" and any("credential" in str(x) for x in where):
            # Never quote the value: it may be a secret pasted where a reference belongs.
            msg = "must be a reference 'env:NAME' or 'file:NAME' (in the credentials directory), not the secret itself"
        elif err.validator == "oneOf":
            msg = f"{err.instance!r} is not valid here: {err.schema.get('description', 'see the schema')}"
        errors.append(positions.error(where, msg))
    if errors:
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)


def compile_template(env: SandboxedEnvironment, text: str, positions: Positions, path: DataPath) -> Template:
    if "{{" not in text and "{%" not in text:
        return Template(text)
    try:
        return Template(text, env.from_string(text))
    except TemplateSyntaxError as exc:
        raise positions.error(path, f"template error: {exc.message}") from None


def parse_fields(entry: Mapping[str, Any], positions: Positions, path: DataPath) -> dict[str, FieldTransform]:
    out: dict[str, FieldTransform] = {}
    env = SandboxedEnvironment(autoescape=False)
    for name, spec in (entry.get("fields") or {}).items():
        m = spec.get("map")
        mapping = BUILTIN_MAPS[m] if isinstance(m, str) else normalize_map(m) if m else None
        compute = (compile_template(env, str(spec["compute"]), positions, (*path, "fields", name, "compute"))
                   if "compute" in spec else None)
        out[name] = FieldTransform(mapping, spec.get("default"), tuple(spec.get("convert", ())),
                                   spec.get("rate"), compute)
    return out


def parse_events(entry: Mapping[str, Any], env: SandboxedEnvironment, positions: Positions,
                 path: DataPath) -> tuple[EventRule, ...]:
    rules: list[EventRule] = []
    errors: list[ConfigError] = []
    for i, r in enumerate(entry.get("events") or ()):
        p = (*path, "events", i)

        def t(key: str, r: Mapping[str, Any] = r, p: DataPath = p) -> Template | None:
            return compile_template(env, str(r[key]), positions, (*p, key)) if key in r else None

        try:
            when = r.get("when", "always")
            if when in ("change", "decrease", "threshold") and "field" not in r:
                raise positions.error(p, f"when: {when} needs a 'field' to watch")
            threshold = None
            if when == "threshold":
                if "threshold" not in r:
                    raise positions.error(p, "when: threshold needs a 'threshold' block")
                try:
                    threshold = build_threshold(r["threshold"])
                except ValueError as exc:
                    raise positions.error((*p, "threshold"), str(exc)) from None
            sev = r.get("severity")
            if isinstance(sev, dict):
                if "field" not in r:
                    raise positions.error((*p, "severity"), "a severity mapping needs the rule's 'field'")
                default = sev.get("default")
                severity = SeveritySpec(mapping=normalize_map({k: v for k, v in sev.items() if k != "default"}),
                                        default=default)
            elif isinstance(sev, str):
                if "{{" not in sev and sev not in SEVERITIES:
                    raise positions.error((*p, "severity"), f"unknown severity {sev!r}; one of {SEVERITIES}")
                severity = SeveritySpec(template=t("severity"))
            else:
                severity = SeveritySpec()
            event = t("event")
            assert event is not None
            rules.append(EventRule(
                event=event, when=when, field=r.get("field"), resource=t("resource"), component=t("component"),
                severity=severity, summary=t("summary"), value=t("value"),
                labels={k: compile_template(env, str(v), positions, (*p, "labels", k))
                        for k, v in (r.get("labels") or {}).items()},
                threshold=threshold, initial=bool(r.get("initial", True)),
                only={k: tuple(v) for k, v in (r.get("only") or {}).items()},
                reassert=bool(r.get("reassert", is_condition(when, severity))),
                for_cycles=int(r.get("for", 1)),
            ))
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
    return tuple(rules)
