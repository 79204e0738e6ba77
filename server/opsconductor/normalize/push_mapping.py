"""Declarative "payload -> events" mapping for pushed sources (webhooks, SNMP traps).

An addon manifest describes how one item of a pushed payload becomes a normalized event
with field templates (Jinja2, sandboxed, no I/O) and value maps; this module compiles
that description once (errors carry ``file:line:col``) and applies it per item (pure).

    event: "{{ item.labels.alertname }}"
    resource: "{{ item.labels.instance or 'grafana' }}"
    severity: {from: "{{ item.labels.severity }}", map: {critical: critical, error: major},
               default: warning, label: source_severity}
    clear_when: "{{ item.status == 'resolved' }}"
    labels: {team: "{{ item.labels.team }}"}
    labels_from: [item.labels]          # JMESPath; each result object is merged into labels

A template that is just a dotted name (``{{ item.labels.x }}``) is looked up directly,
skipping the template engine: that keeps trap decoding fast at thousands per second.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jinja2
import jmespath
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from opsconductor.config.yaml_source import DataPath, Positions
from opsconductor.errors import ConfigError, ConfigErrors
from opsconductor.model.event import NormalizedEvent, Severity
from opsconductor.normalize.push_fields import (
    NAME_MAX,
    SEVERITY_WORDS,
    SUMMARY_MAX,
    as_text,
    clean_labels,
    clip,
    parse_timestamp,
)

_SIMPLE = re.compile(r"^\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}$")
_TRUE = frozenset({"true", "yes", "1", "on"})

TEMPLATE_FIELDS = ("event", "resource", "component", "summary", "value", "occurred_at")
EVENT_KEYS = frozenset({*TEMPLATE_FIELDS, "severity", "clear_when", "labels", "labels_from"})


def template_environment() -> jinja2.Environment:
    """The one template dialect of manifests: sandboxed, missing names render empty."""
    return ImmutableSandboxedEnvironment(undefined=jinja2.ChainableUndefined, autoescape=False)


@dataclass(frozen=True)
class Template:
    """A compiled field template; ``render`` returns stripped text ('' when absent)."""

    source: str
    _path: tuple[str, ...] | None = None
    _compiled: jinja2.Template | None = None

    def render(self, context: Mapping[str, Any]) -> str:
        if self._path is not None:
            value: Any = context
            for part in self._path:
                if isinstance(value, Mapping):
                    value = value.get(part)
                else:
                    return ""
                if value is None:
                    return ""
            return as_text(value).strip()
        if self._compiled is not None:
            # render() first merges jinja's globals into a copy of ``context``; rendering on
            # the context as-is halves the cost of a small template (traps: thousands a
            # second). The sandbox and undefined handling are the same; templates just do not
            # see jinja's globals (range, lipsum...), which field templates have no use for.
            t = self._compiled
            ctx = t.environment.context_class(
                t.environment, context if isinstance(context, dict) else dict(context), t.name, t.blocks)
            return "".join(t.root_render_func(ctx)).strip()
        return self.source


def compile_template(env: jinja2.Environment, text: Any, positions: Positions, path: DataPath) -> Template:
    """Compile one template; a syntax error is a ConfigError at its position."""
    if not isinstance(text, (str, int, float)) or isinstance(text, bool):
        raise positions.error(path, f"must be a string template, got {type(text).__name__}")
    text = str(text)
    if "{{" not in text and "{%" not in text:
        return Template(text.strip())
    simple = _SIMPLE.match(text.strip())
    if simple:
        return Template(text, _path=tuple(simple.group(1).split(".")))
    try:
        return Template(text, _compiled=env.from_string(text))
    except jinja2.TemplateSyntaxError as exc:
        raise positions.error(path, f"template error: {exc.message}") from None


def compile_jmespath(expr: Any, positions: Positions, path: DataPath) -> ParsedResult:
    if not isinstance(expr, str) or not expr.strip():
        raise positions.error(path, "must be a non-empty JMESPath expression")
    try:
        return jmespath.compile(expr)
    except JMESPathError as exc:
        where = getattr(exc, "lex_position", None)
        what = "incomplete expression" if type(exc).__name__ == "IncompleteExpressionError" else getattr(
            exc, "msg", str(exc).splitlines()[0])
        at = f" at character {where + 1}" if isinstance(where, int) else ""
        raise positions.error(path, f"invalid JMESPath expression {expr!r}: {what}{at}") from None


def check_keys(entry: Mapping[str, Any], allowed: frozenset[str], positions: Positions, path: DataPath) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ConfigErrors(
            positions.error((*path, k), f"unknown key {k!r}; expected one of: {', '.join(sorted(allowed))}")
            for k in unknown
        )


def parse_severity_word(value: Any, positions: Positions, path: DataPath) -> Severity:
    try:
        return Severity(str(value).strip().lower())
    except ValueError:
        raise positions.error(
            path, f"unknown severity {value!r}; expected one of: {', '.join(s.value for s in Severity)}"
        ) from None


@dataclass(frozen=True)
class SeverityRule:
    """Severity from a source value: through ``map`` (case-insensitive), else ``default``."""

    from_: Template | None = None
    table: Mapping[str, Severity] = field(default_factory=dict)
    default: Severity | None = None
    label: str | None = None  # copy the source's own value into this label

    def resolve(self, context: Mapping[str, Any]) -> tuple[Severity | None, str]:
        raw = self.from_.render(context) if self.from_ else ""
        return (self.table.get(raw.lower()) if raw else None) or self.default, raw


def compile_severity(env: jinja2.Environment, spec: Any, positions: Positions, path: DataPath) -> SeverityRule:
    if isinstance(spec, str) and "{{" not in spec:
        return SeverityRule(default=parse_severity_word(spec, positions, path))
    if isinstance(spec, str):
        return SeverityRule(compile_template(env, spec, positions, path), dict(SEVERITY_WORDS))
    if not isinstance(spec, dict):
        raise positions.error(path, "must be a severity word or {from, map, default, label}")
    check_keys(spec, frozenset({"from", "map", "default", "label"}), positions, path)
    from_ = compile_template(env, spec["from"], positions, (*path, "from")) if "from" in spec else None
    table: dict[str, Severity] = {}
    raw_map = spec.get("map", None)
    if raw_map is None:
        table = dict(SEVERITY_WORDS)
    elif not isinstance(raw_map, dict):
        raise positions.error((*path, "map"), "must be a mapping of source value -> severity")
    else:
        for k, v in raw_map.items():
            table[str(k).strip().lower()] = parse_severity_word(v, positions, (*path, "map", str(k)))
    default = parse_severity_word(spec["default"], positions, (*path, "default")) if spec.get("default") else None
    label = spec.get("label")
    if label is not None and (not isinstance(label, str) or not label.strip()):
        raise positions.error((*path, "label"), "must be a label name")
    if from_ is None and default is None:
        raise positions.error(path, "needs 'from' (a template) or 'default' (a severity)")
    return SeverityRule(from_, table, default, label.strip() if label else None)


@dataclass(frozen=True)
class EventTemplate:
    """Compiled field templates that turn one context (item, varbinds...) into one event."""

    fields: Mapping[str, Template]
    severity: SeverityRule | None = None
    clear_when: Template | None = None
    labels: Mapping[str, Template] = field(default_factory=dict)
    labels_from: tuple[ParsedResult, ...] = ()

    def render(self, context: Mapping[str, Any], *, source: str, raw: Any = None,
               defaults: Mapping[str, str] | None = None, now: datetime | None = None) -> NormalizedEvent:
        """One event; raises ValueError naming the field when the result is not a valid event."""
        values = {name: t.render(context) for name, t in self.fields.items()}
        for name, value in (defaults or {}).items():
            if not values.get(name):
                values[name] = value
        for required in ("event", "resource"):
            if not values.get(required):
                raise ValueError(f"{required}: rendered empty")
        severity: Severity | None = None
        labels: dict[str, Any] = {}
        for expr in self.labels_from:
            found = expr.search(context)
            if isinstance(found, Mapping):
                labels.update(found)
        labels.update({k: t.render(context) for k, t in self.labels.items()})
        if self.severity is not None:
            severity, source_word = self.severity.resolve(context)
            if self.severity.label and source_word:
                labels[self.severity.label] = source_word
        if self.clear_when is not None and self.clear_when.render(context).lower() in _TRUE:
            severity = Severity.clear
        try:
            occurred = parse_timestamp(values.get("occurred_at"))
        except ValueError as exc:
            raise ValueError(f"occurred_at: {exc}") from None
        if occurred is None and severity is Severity.clear:
            occurred = now
        value_text = values.get("value")
        return NormalizedEvent(
            resource=clip(values["resource"], NAME_MAX),
            event=clip(values["event"], NAME_MAX),
            component=clip(values["component"], NAME_MAX) if values.get("component") else None,
            severity=severity,
            summary=clip(values["summary"], SUMMARY_MAX) if values.get("summary") else None,
            value=_number_or_text(value_text) if value_text else None,
            labels=clean_labels(labels),
            source=source,
            occurred_at=occurred,
            raw=raw,
        )


def _number_or_text(text: str) -> str | int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return clip(text, 1024)


def compile_event_template(
    env: jinja2.Environment, entry: Mapping[str, Any], positions: Positions, path: DataPath,
    *, required: tuple[str, ...] = ("event", "resource"),
) -> EventTemplate:
    """The event-describing keys of ``entry`` (see EVENT_KEYS); other keys are the caller's."""
    errors: list[ConfigError] = []
    fields: dict[str, Template] = {}
    for name in TEMPLATE_FIELDS:
        if name in entry:
            try:
                fields[name] = compile_template(env, entry[name], positions, (*path, name))
            except ConfigError as exc:
                errors.append(exc)
        elif name in required:
            errors.append(positions.error(path, f"missing {name!r} (a template)"))
    severity = clear_when = None
    labels: dict[str, Template] = {}
    labels_from: list[ParsedResult] = []
    try:
        if "severity" in entry:
            severity = compile_severity(env, entry["severity"], positions, (*path, "severity"))
        if "clear_when" in entry:
            clear_when = compile_template(env, entry["clear_when"], positions, (*path, "clear_when"))
        raw_labels = entry.get("labels", {})
        if not isinstance(raw_labels, dict):
            raise positions.error((*path, "labels"), "must be a mapping of label name -> template")
        for k, v in raw_labels.items():
            labels[str(k)] = compile_template(env, v, positions, (*path, "labels", str(k)))
        raw_from = entry.get("labels_from", [])
        if isinstance(raw_from, str):
            raw_from = [raw_from]
        if not isinstance(raw_from, list):
            raise positions.error((*path, "labels_from"), "must be a JMESPath expression or a list of them")
        labels_from = [compile_jmespath(e, positions, (*path, "labels_from", i)) for i, e in enumerate(raw_from)]
    except ConfigError as exc:
        errors.append(exc)
    if errors:
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
    return EventTemplate(fields, severity, clear_when, labels, tuple(labels_from))
