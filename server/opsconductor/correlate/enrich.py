"""Enrichment: ``set:`` templates for summary, labels and severity.

Templates are Jinja2 expressions (``{{ ... }}`` only: no statements, so no loops) rendered
in a sandbox over:

- ``event``: the event's fields (``resource``, ``event``, ``component``, ``severity``,
  ``summary``, ``value``, ``source``),
- ``labels``: the event's labels,
- ``target``: its target from the inventory (``name``, ``address``, ``labels``,
  ``depends_on``, ``origin``; NetBox-synced targets carry ``site``, ``role``, ``platform``
  and ``netbox_id`` labels), empty when the resource is no known target. Credentials are
  never in the context.

A missing name renders as empty text. A template that fails at run time leaves the value
as it was and says why in the trace: enrichment never loses an event.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from opsconductor.correlate.rules import Rule
from opsconductor.model.event import NormalizedEvent, Severity

MAX_SUMMARY = 4096
MAX_LABEL = 1024
_ENV = SandboxedEnvironment(undefined=ChainableUndefined, autoescape=False, keep_trailing_newline=False)


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def template_error(text: str) -> str | None:
    """Why ``text`` is not an acceptable template, or None."""
    if "{%" in text:
        return "templates may only use {{ expressions }}, not {% statements %}"
    try:
        _compile(text)
    except TemplateSyntaxError as exc:
        return f"bad template: {exc.message}"
    return None


@functools.lru_cache(maxsize=1024)
def _compile(text: str) -> Template:
    return _ENV.from_string(text)


def target_context(target: Any | None) -> dict[str, Any]:
    if target is None:
        return {}
    return {"name": target.name, "address": getattr(target, "address", None), "labels": dict(target.labels),
            "depends_on": list(getattr(target, "depends_on", ())), "origin": getattr(target, "origin", None)}


def _context(ev: NormalizedEvent, sev: Severity, target: Any | None) -> dict[str, Any]:
    fields = {"resource": ev.resource, "event": ev.event, "component": ev.component, "severity": sev.value,
              "summary": ev.summary, "value": ev.value, "source": ev.source}
    return {"event": fields, "labels": dict(ev.labels), "target": target_context(target)}


def _render(text: str, ctx: Mapping[str, Any], limit: int) -> str:
    return str(_compile(text).render(ctx)).strip()[:limit]


def enrich(rule: Rule, ev: NormalizedEvent, sev: Severity, target: Any | None
           ) -> tuple[NormalizedEvent, Severity, list[str]]:
    """The event with the rule's summary/labels applied, the severity (from a severity template,
    if any) and what was done, for the trace."""
    ctx = _context(ev, sev, target)
    notes: list[str] = []
    update: dict[str, Any] = {}
    spec = rule.severity
    if spec is not None and spec.template is not None:
        try:
            out = _render(spec.template, ctx, 32).lower()
            if out in Severity.__members__:
                sev = Severity(out)
                notes.append(f"severity template -> {out}")
            else:
                notes.append(f"severity template gave {out!r}, not a severity: kept {sev.value}")
        except Exception as exc:  # a sandbox refusal or a type error in the expression
            notes.append(f"severity template failed ({type(exc).__name__}): kept {sev.value}")
    if rule.set_summary is not None:
        try:
            update["summary"] = _render(rule.set_summary, ctx, MAX_SUMMARY) or ev.summary
            notes.append("summary set")
        except Exception as exc:
            notes.append(f"summary template failed ({type(exc).__name__}): kept")
    if rule.set_labels:
        labels = dict(ev.labels)
        for name, text in rule.set_labels:
            try:
                value = _render(text, ctx, MAX_LABEL)
            except Exception as exc:
                notes.append(f"label {name} template failed ({type(exc).__name__}): kept")
                continue
            if value:
                labels[name] = value
        update["labels"] = labels
        notes.append("labels " + ", ".join(n for n, _ in rule.set_labels) + " set")
    return (ev.model_copy(update=update) if update else ev), sev, notes
