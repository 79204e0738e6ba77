"""The ``webhook`` source kind: a payload pushed to ``POST /api/v1/webhooks/{addon}`` -> events.

A webhook source either names a built-in translator (``format: alertmanager`` — the
Alertmanager API v2 alert list that Prometheus sends, or Alertmanager's webhook v4) or
describes the mapping declaratively (see :mod:`opsconductor.normalize.push_mapping`)::

    sources:
      - name: alerts
        kind: webhook
        items: alerts                          # JMESPath: the list of items in the payload
        event: "{{ item.labels.alertname }}"
        resource: "{{ item.labels.instance or 'grafana' }}"
        severity: {from: "{{ item.labels.severity }}", default: warning, label: source_severity}
        clear_when: "{{ item.status == 'resolved' }}"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jmespath.parser import ParsedResult

from opsconductor.config.yaml_source import DataPath, Positions
from opsconductor.errors import FieldProblem, ValidationFailed
from opsconductor.model.event import NormalizedEvent
from opsconductor.normalize.prometheus import PrometheusMapping, parse_alertmanager_any, parse_prometheus_alerts
from opsconductor.normalize.push_fields import raw_or_none
from opsconductor.normalize.push_mapping import (
    EVENT_KEYS,
    EventTemplate,
    check_keys,
    compile_event_template,
    compile_jmespath,
    parse_severity_word,
    template_environment,
)

FORMATS = ("alertmanager",)
_COMMON_KEYS = frozenset({"name", "kind", "description"})
_FORMAT_KEYS = _COMMON_KEYS | {"format", "options"}
_MAPPING_KEYS = _COMMON_KEYS | EVENT_KEYS | {"items", "keep_raw"}
_AM_OPTIONS = frozenset({
    "resource_labels", "resource_default", "strip_port", "component_labels", "severity_label",
    "severity_map", "severity_default", "summary_annotations", "annotation_prefix", "keep_raw", "firing_time",
})
MAX_REPORTED_PROBLEMS = 100


@dataclass(frozen=True)
class WebhookSpec:
    """One validated webhook source; :meth:`translate` is pure."""

    name: str
    addon: str
    format: str | None = None
    alertmanager: PrometheusMapping | None = None
    items: ParsedResult | None = None
    template: EventTemplate | None = None
    keep_raw: bool = True

    def translate_postable(self, payload: Any, now: datetime, *, max_items: int) -> list[NormalizedEvent]:
        """``POST /api/v2/alerts``: strictly Alertmanager API v2 postableAlerts (a JSON array)."""
        if self.alertmanager is None:
            raise ValidationFailed(f"source {self.addon}/{self.name} does not take Alertmanager alerts")
        return parse_prometheus_alerts(payload, self.alertmanager, now, max_items=max_items)

    def translate(self, payload: Any, now: datetime, *, max_items: int) -> list[NormalizedEvent]:
        """The events of one delivery, all or nothing (ValidationFailed lists every bad item)."""
        if self.alertmanager is not None:
            return parse_alertmanager_any(payload, self.alertmanager, now, max_items=max_items)
        assert self.template is not None
        found = self.items.search(payload) if self.items is not None else payload
        if found is None:
            found = []
        items = found if isinstance(found, list) else [found]
        if len(items) > max_items:
            raise ValidationFailed(f"too many items: {len(items)} > {max_items} per request",
                                   [FieldProblem("(root)", f"at most {max_items} items per request")])
        events: list[NormalizedEvent] = []
        problems: list[FieldProblem] = []
        for i, item in enumerate(items):
            try:
                events.append(self.template.render(
                    {"item": item, "payload": payload}, source=self.addon, now=now,
                    raw=raw_or_none(item) if self.keep_raw else None,
                ))
            except ValueError as exc:  # includes pydantic's ValidationError
                problems.append(FieldProblem("(item)", _first_line(exc), i))
        if problems:
            raise ValidationFailed(
                f"{len(problems)} of {len(items)} items could not be mapped to events; nothing was accepted",
                problems[:MAX_REPORTED_PROBLEMS],
            )
        return events


def _first_line(exc: Exception) -> str:
    text = str(exc)
    return " ".join(text.split("\n")[:3]).strip()[:500]


def _str_list(value: Any, positions: Positions, path: DataPath) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise positions.error(path, "must be a list of label names")
    return tuple(v.strip() for v in value)


def parse_alertmanager_options(
    options: Any, source: str, positions: Positions, path: DataPath
) -> PrometheusMapping:
    """The ``options:`` of ``format: alertmanager`` -> PrometheusMapping (unset keys keep defaults)."""
    if options is None:
        return PrometheusMapping(source=source)
    if not isinstance(options, dict):
        raise positions.error(path, "must be a mapping of alertmanager options")
    check_keys(options, _AM_OPTIONS, positions, path)
    kw: dict[str, Any] = {"source": source}
    for key in ("resource_labels", "component_labels", "summary_annotations"):
        if key in options:
            kw[key] = _str_list(options[key], positions, (*path, key))
    for key in ("resource_default", "severity_label", "annotation_prefix"):
        if key in options:
            if not isinstance(options[key], str):
                raise positions.error((*path, key), "must be a string")
            kw[key] = options[key]
    for key in ("strip_port", "keep_raw"):
        if key in options:
            if not isinstance(options[key], bool):
                raise positions.error((*path, key), "must be true or false")
            kw[key] = options[key]
    if "firing_time" in options:
        if options["firing_time"] not in ("received", "starts_at"):
            raise positions.error((*path, "firing_time"), "must be 'received' or 'starts_at'")
        kw["firing_time"] = options["firing_time"]
    if options.get("severity_default") is not None:
        kw["severity_default"] = parse_severity_word(
            options["severity_default"], positions, (*path, "severity_default"))
    if "severity_map" in options:
        table = options["severity_map"]
        if not isinstance(table, dict):
            raise positions.error((*path, "severity_map"), "must be a mapping of label value -> severity")
        merged = dict(PrometheusMapping().severity_map)
        for k, v in table.items():
            merged[str(k).strip().lower()] = parse_severity_word(v, positions, (*path, "severity_map", str(k)))
        kw["severity_map"] = merged
    return PrometheusMapping(**kw)


class WebhookKind:
    """``kind: webhook`` — pushed over HTTP, never polled."""

    name = "webhook"
    polled = False

    def schema(self) -> dict[str, Any]:
        template = {"type": "string"}
        return {
            "type": "object",
            "required": ["name", "kind"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"},
                "kind": {"const": "webhook"},
                "description": {"type": "string"},
                "format": {"enum": list(FORMATS)},
                "options": {"type": "object"},
                "items": {"type": "string", "description": "JMESPath to the list of items"},
                "keep_raw": {"type": "boolean"},
                **{k: template for k in ("event", "resource", "component", "summary", "value", "occurred_at",
                                         "clear_when")},
                "severity": {"oneOf": [{"type": "string"}, {"type": "object"}]},
                "labels": {"type": "object", "additionalProperties": template},
                "labels_from": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            },
            "additionalProperties": False,
        }

    def parse(self, entry: Mapping[str, Any], positions: Positions, path: DataPath,
              *, addon: str | None = None) -> WebhookSpec:
        """Validate one webhook source entry of the manifest at ``path`` (``("sources", i)``)."""
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise positions.error((*path, "name") if "name" in entry else path, "a source needs a 'name'")
        addon_name = addon or _addon_name(positions)
        if "format" in entry:
            fmt = entry["format"]
            if fmt not in FORMATS:
                raise positions.error((*path, "format"),
                                      f"unknown format {fmt!r}; expected one of: {', '.join(FORMATS)}")
            check_keys(entry, _FORMAT_KEYS, positions, path)
            mapping = parse_alertmanager_options(entry.get("options"), addon_name, positions, (*path, "options"))
            return WebhookSpec(name=name, addon=addon_name, format=fmt, alertmanager=mapping)
        check_keys(entry, _MAPPING_KEYS, positions, path)
        items = compile_jmespath(entry["items"], positions, (*path, "items")) if "items" in entry else None
        keep_raw = entry.get("keep_raw", True)
        if not isinstance(keep_raw, bool):
            raise positions.error((*path, "keep_raw"), "must be true or false")
        template = compile_event_template(template_environment(), entry, positions, path)
        return WebhookSpec(name=name, addon=addon_name, items=items, template=template, keep_raw=keep_raw)


def _addon_name(positions: Positions) -> str:
    """The addon's directory name from the manifest path (``addons/<name>/addon.yaml``)."""
    parts = positions.file.replace("\\", "/").split("/")
    return parts[-2] if len(parts) >= 2 and parts[-1].startswith("addon.") else parts[-1]
