"""Prometheus / Alertmanager alerts -> normalized events (pure; no I/O, ``now`` is passed in).

Two wire formats, one mapping:

- Alertmanager API v2 ``POST /api/v2/alerts``: a JSON array of *postableAlert* objects
  ``{labels, annotations, startsAt, endsAt, generatorURL}``. This is what Prometheus itself
  sends to the Alertmanagers of its ``alerting:`` section. A firing alert carries an
  ``endsAt`` in the future (Prometheus: a few resend intervals ahead); once the rule stops
  firing Prometheus sends the alert again with ``endsAt`` = the resolve time, i.e. in the
  past, which we turn into a ``clear``.
- Alertmanager's webhook receiver payload, ``"version": "4"``: an object whose ``alerts``
  items also carry ``status`` (``firing``/``resolved``) and ``fingerprint``; ``status`` is
  authoritative there.

Mapping (all configurable through :class:`PrometheusMapping`, e.g. from
``addons/prometheus/addon.yaml``): label ``alertname`` -> event, the first present of
``resource_labels`` (``instance``) -> resource, ``severity`` label -> severity through a
value map, remaining labels -> labels, annotation ``summary`` (else ``description``) ->
summary; a clear happened at ``endsAt``, a firing alert when it is received (``startsAt``
becomes label ``starts_at``; ``firing_time: starts_at`` stamps the event with it instead).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from opsconductor.errors import FieldProblem, ValidationFailed
from opsconductor.model.event import NormalizedEvent, Severity
from opsconductor.normalize.push_fields import (
    NAME_MAX,
    SEVERITY_WORDS,
    SUMMARY_MAX,
    clean_labels,
    clip,
    map_severity,
    parse_timestamp,
    raw_or_none,
)

MAX_REPORTED_PROBLEMS = 100
FIRING_SEVERITY_WORDS = {k: v for k, v in SEVERITY_WORDS.items() if v is not Severity.clear}
"""A label on a firing alert never means "clear": only endsAt/status resolve an alert."""


@dataclass(frozen=True)
class PrometheusMapping:
    """How Alertmanager-style alerts become events; defaults follow Prometheus conventions."""

    source: str = "prometheus"
    event_label: str = "alertname"
    resource_labels: tuple[str, ...] = ("instance",)
    resource_default: str = "prometheus"
    strip_port: bool = False  # "rtr1:9100" -> "rtr1", to meet inventory names
    component_labels: tuple[str, ...] = ()
    severity_label: str = "severity"
    severity_map: Mapping[str, Severity] = field(default_factory=lambda: dict(FIRING_SEVERITY_WORDS))
    severity_default: Severity | None = None  # None: the rules decide (default warning)
    summary_annotations: tuple[str, ...] = ("summary", "description")
    annotation_prefix: str = "annotation_"  # other annotations become labels with this prefix
    keep_raw: bool = True
    # A firing alert is re-sent with the same startsAt for as long as it fires. Stamping it with
    # startsAt would pin the alert's last_seen there and let it expire while still firing, so by
    # default it counts as seen when received; startsAt is kept as label `starts_at`.
    firing_time: str = "received"  # or "starts_at"


def _strip_port(instance: str) -> str:
    if instance.startswith("["):  # [::1]:9100
        end = instance.find("]")
        return instance[1:end] if end > 0 else instance
    host, colon, port = instance.rpartition(":")
    if colon and host and port.isdigit() and ":" not in host and "/" not in host:
        return host
    return instance


def _first(labels: Mapping[str, str], names: Sequence[str]) -> tuple[str | None, str | None]:
    for name in names:
        value = labels.get(name, "").strip()
        if value:
            return name, value
    return None, None


def _string_map(value: Any, what: str, index: int, problems: list[FieldProblem]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(FieldProblem(what, f"must be an object of strings, got {type(value).__name__}", index))
        return {}
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(v, str):
            problems.append(FieldProblem(f"{what}.{k}", f"must be a string, got {type(v).__name__}", index))
            continue
        out[str(k)] = v
    return out


def _alert_to_event(
    alert: Any, index: int, mapping: PrometheusMapping, now: datetime, problems: list[FieldProblem],
    *, extra_labels: Mapping[str, str] | None = None,
) -> NormalizedEvent | None:
    if not isinstance(alert, dict):
        problems.append(FieldProblem("(item)", f"must be an alert object, got {type(alert).__name__}", index))
        return None
    before = len(problems)
    labels = _string_map(alert.get("labels"), "labels", index, problems)
    annotations = _string_map(alert.get("annotations"), "annotations", index, problems)
    times: dict[str, datetime | None] = {}
    for key in ("startsAt", "endsAt"):
        try:
            times[key] = parse_timestamp(alert.get(key))
        except ValueError as exc:
            problems.append(FieldProblem(key, str(exc), index))
    status = alert.get("status")
    if status is not None and status not in ("firing", "resolved"):
        problems.append(FieldProblem("status", f"must be 'firing' or 'resolved', got {status!r}", index))
    event_name = labels.get(mapping.event_label, "").strip()
    if "labels" in alert and isinstance(alert.get("labels"), dict) and not event_name:
        problems.append(FieldProblem(f"labels.{mapping.event_label}", "missing: it names the event", index))
    elif "labels" not in alert:
        problems.append(FieldProblem("labels", "missing: an alert needs a label set", index))
    if len(problems) > before:
        return None

    ends_at = times.get("endsAt")
    # Webhook v4 says so in `status`; API v2 only by an endsAt that has passed.
    clear = status == "resolved" if status is not None else ends_at is not None and ends_at <= now
    resource_label, resource = _first(labels, mapping.resource_labels)
    if resource is not None and mapping.strip_port:
        resource = _strip_port(resource)
    component_label, component = _first(labels, mapping.component_labels)
    source_severity = labels.get(mapping.severity_label)
    severity = Severity.clear if clear else (
        map_severity(source_severity, mapping.severity_map) or mapping.severity_default
    )
    _, summary = _first(annotations, mapping.summary_annotations)

    used = {mapping.event_label, resource_label, component_label}
    out_labels = {k: v for k, v in labels.items() if k not in used}
    for k, v in annotations.items():
        if summary is not None and k in mapping.summary_annotations and v.strip() == summary:
            continue
        out_labels[f"{mapping.annotation_prefix}{k}"] = v
    starts_at = times.get("startsAt")
    if starts_at is not None:
        out_labels["starts_at"] = starts_at.isoformat().replace("+00:00", "Z")
    generator = alert.get("generatorURL")
    if isinstance(generator, str) and generator:
        out_labels["generator_url"] = generator
    if extra_labels:
        for k, v in extra_labels.items():
            out_labels.setdefault(k, v)
    try:
        return NormalizedEvent(
            resource=clip(resource or mapping.resource_default, NAME_MAX),
            event=clip(event_name, NAME_MAX),
            component=clip(component, NAME_MAX) if component else None,
            severity=severity,
            summary=clip(summary, SUMMARY_MAX) if summary else None,
            labels=clean_labels(out_labels),
            source=mapping.source,
            occurred_at=(ends_at or now) if clear else (starts_at if mapping.firing_time == "starts_at" else None),
            raw=raw_or_none(alert) if mapping.keep_raw else None,
        )
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            problems.append(FieldProblem(".".join(str(p) for p in err["loc"]) or "(item)", err["msg"], index))
        return None


def _finish(events: list[NormalizedEvent | None], problems: list[FieldProblem], total: int) -> list[NormalizedEvent]:
    if problems:
        bad = len({p.index for p in problems})
        raise ValidationFailed(
            f"{bad} of {total} alerts are invalid; nothing was accepted", problems[:MAX_REPORTED_PROBLEMS]
        )
    return [e for e in events if e is not None]


def _check_count(n: int, max_items: int) -> None:
    if n > max_items:
        raise ValidationFailed(
            f"too many alerts: {n} > {max_items} per request",
            [FieldProblem("(root)", f"at most {max_items} alerts per request")],
        )


def parse_prometheus_alerts(
    payload: Any, mapping: PrometheusMapping, now: datetime, *, max_items: int = 10_000
) -> list[NormalizedEvent]:
    """Alertmanager API v2 postableAlerts (a JSON array) -> events; all-or-nothing."""
    if not isinstance(payload, list):
        raise ValidationFailed(
            "body must be a JSON array of alerts (Alertmanager API v2 postableAlerts)",
            [FieldProblem("(root)", f"expected array, got {type(payload).__name__}")],
        )
    _check_count(len(payload), max_items)
    problems: list[FieldProblem] = []
    events = [_alert_to_event(a, i, mapping, now, problems) for i, a in enumerate(payload)]
    return _finish(events, problems, len(payload))


def parse_alertmanager_webhook(
    payload: Any, mapping: PrometheusMapping, now: datetime, *, max_items: int = 10_000
) -> list[NormalizedEvent]:
    """Alertmanager webhook receiver payload (``"version": "4"``) -> events; all-or-nothing."""
    if not isinstance(payload, dict):
        raise ValidationFailed(
            "body must be an Alertmanager webhook object",
            [FieldProblem("(root)", f"expected object, got {type(payload).__name__}")],
        )
    version = payload.get("version")
    if version != "4":
        raise ValidationFailed(
            "unsupported Alertmanager webhook payload version",
            [FieldProblem("version", f"expected \"4\", got {version!r}")],
        )
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise ValidationFailed(
            "the webhook payload has no alerts array",
            [FieldProblem("alerts", f"expected array, got {type(alerts).__name__}")],
        )
    _check_count(len(alerts), max_items)
    receiver = payload.get("receiver")
    extra = {"receiver": receiver} if isinstance(receiver, str) and receiver else None
    problems: list[FieldProblem] = []
    events = [
        _alert_to_event(a, i, mapping, now, problems, extra_labels=extra) for i, a in enumerate(alerts)
    ]
    return _finish(events, problems, len(alerts))


def parse_alertmanager_any(
    payload: Any, mapping: PrometheusMapping, now: datetime, *, max_items: int = 10_000
) -> list[NormalizedEvent]:
    """Either wire format, told apart by shape: an array is API v2, an object is the webhook."""
    if isinstance(payload, dict):
        return parse_alertmanager_webhook(payload, mapping, now, max_items=max_items)
    return parse_prometheus_alerts(payload, mapping, now, max_items=max_items)
