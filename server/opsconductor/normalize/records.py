"""Records (rows of a table, lines of a command, objects of an API) -> NormalizedEvents.

An addon's ``events:`` block is compiled into :class:`EventRule` objects; evaluating
them is pure apart from the small ``state`` dict the poller keeps per (target, source),
which is what makes change detection possible:

- ``always``    one event per record per poll
- ``change``    when the field's value differs from the last poll (and on first sight)
- ``decrease``  when a numeric field went down (sysUpTime -> device_rebooted)
- ``threshold`` severity from threshold levels; emitted when that severity changes
- ``present``   alarm lists: an event while a record is listed, ``clear`` when it disappears

Reconciliation: a rule whose severity follows the record (a severity map or template, or a
threshold) describes a *condition*, and ``reassert`` rules send that condition's current
state on every poll while it is not clear, so the alert stays open (``last_seen`` moves) as
long as the poll sees it. A clear is sent when the state turns clear, and again whenever the
caller says the condition is open in the alert table (``open_keys``): a trap or an operator
cannot strand a condition the poll sees clear.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import ValidationError

from opsconductor.model.event import NormalizedEvent, Severity
from opsconductor.normalize.units import Threshold, convert, to_number
from opsconductor.normalize.valuemaps import apply_map

log = logging.getLogger(__name__)

Record = dict[str, Any]
WHEN = ("always", "change", "decrease", "threshold", "present")
ORIGINAL = "\x00original"  # a key no device field can have


def template_environment() -> SandboxedEnvironment:
    """One environment per manifest load (no module-level state)."""
    return SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


@dataclass(frozen=True)
class FieldTransform:
    """Applied to a record field before events are built: a value map and/or conversions."""

    map: Mapping[Any, str] | None = None
    map_default: str | None = None
    convert: tuple[str, ...] = ()
    rate: str | None = None  # counter32 | counter64: the field becomes its per-second increase
    compute: Template | None = None  # a field computed from the row (normalize/metrics.py)

    def apply(self, value: Any) -> Any:
        if value is None:
            return None
        if self.convert:
            value = convert(value, self.convert)
        if self.map is not None:
            value = apply_map(self.map, value, self.map_default)
        return value


@dataclass(frozen=True)
class Template:
    """A compiled jinja2 (sandboxed) template, or a constant when the text has no ``{{``."""

    source: str
    compiled: Any = None

    def render(self, ctx: Mapping[str, Any]) -> str:
        if self.compiled is None:
            return self.source
        return str(self.compiled.render(ctx)).strip()


@dataclass(frozen=True)
class SeveritySpec:
    """Fixed, templated, or mapped from the rule's field value (with a default)."""

    template: Template | None = None
    mapping: Mapping[Any, str] | None = None
    default: str | None = None

    def resolve(self, ctx: Mapping[str, Any], value: Any) -> Severity | None:
        if self.mapping is not None:
            name = apply_map(self.mapping, value, self.default or "")
        elif self.template is not None:
            name = self.template.render(ctx)
        else:
            return None
        name = str(name).strip().lower()
        if not name:
            return None
        try:
            return Severity(name)
        except ValueError:
            log.warning("severity %r is not one of %s; using warning", name, [s.value for s in Severity])
            return Severity.warning


@dataclass(frozen=True)
class EventRule:
    """One ``events:`` entry of a source."""

    event: Template
    when: str = "always"
    field: str | None = None
    resource: Template | None = None
    component: Template | None = None
    severity: SeveritySpec = dataclasses.field(default_factory=SeveritySpec)
    summary: Template | None = None
    value: Template | None = None
    labels: Mapping[str, Template] = dataclasses.field(default_factory=dict)
    threshold: Threshold | None = None
    initial: bool = True
    only: Mapping[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)
    reassert: bool = False  # a condition: its current non-clear state is sent on every poll
    for_cycles: int = 1  # threshold: a level must be seen this many polls in a row before it is raised


def is_condition(when: str, severity: SeveritySpec) -> bool:
    """Whether a rule describes a state the poll owns (re-asserted by default) rather than a one-off."""
    if when == "threshold":
        return True
    templated = severity.template is not None and severity.template.compiled is not None
    return when == "change" and (severity.mapping is not None or templated)


@dataclass
class Context:
    """Who and what a poll was about; the poller fills it, templates see it as ``target``."""

    target: Mapping[str, Any]
    source: str  # "<addon>/<source>"
    now: datetime


def transform(records: Sequence[Record], transforms: Mapping[str, FieldTransform]) -> list[Record]:
    out = []
    for r in records:
        row = dict(r)
        row[ORIGINAL] = dict(r)  # templates may still want the device's own words: {{ original.sev }}
        for name, t in transforms.items():
            if name in row:
                try:
                    row[name] = t.apply(row[name])
                except (ValueError, TypeError) as exc:
                    log.debug("field %s=%r not converted: %s", name, row[name], exc)
        out.append(row)
    return out


def _matches_only(rule: EventRule, row: Record) -> bool:
    for name, allowed in rule.only.items():
        v = row.get(name)
        if str(v).lower() not in {str(a).lower() for a in allowed}:
            return False
    return True


def _build(rule: EventRule, ctx: Context, row: Record, tctx: Mapping[str, Any], value: Any,
           severity: Severity | None) -> NormalizedEvent | None:
    try:
        resource = rule.resource.render(tctx) if rule.resource else str(ctx.target.get("name", ""))
        # The target's labels (site, role...) under the rule's own: label rules and routes see
        # polled events the way they see every other event of the target.
        labels = {**(ctx.target.get("labels") or {}), **{k: t.render(tctx) for k, t in rule.labels.items()}}
        rendered_value: Any = rule.value.render(tctx) if rule.value else value
        if rendered_value is not None and not isinstance(rendered_value, (str, int, float)):
            rendered_value = str(rendered_value)
        return NormalizedEvent(
            resource=resource,
            event=rule.event.render(tctx),
            component=(rule.component.render(tctx) or None) if rule.component else None,
            severity=severity,
            summary=(rule.summary.render(tctx) or None) if rule.summary else None,
            value=rendered_value,
            labels={k: v for k, v in labels.items() if v != ""},
            source=ctx.source,
            occurred_at=ctx.now,
        )
    except (TemplateError, ValidationError, ValueError, TypeError) as exc:
        log.warning("%s: record skipped, cannot build event: %s", ctx.source, exc)
        return None


def _identity(rule: EventRule, ctx: Context, tctx: Mapping[str, Any]) -> tuple[str, str, str] | None:
    try:
        resource = rule.resource.render(tctx) if rule.resource else str(ctx.target.get("name", ""))
        component = rule.component.render(tctx) if rule.component else ""
        return resource, rule.event.render(tctx), component
    except TemplateError as exc:
        log.warning("%s: record skipped: %s", ctx.source, exc)
        return None


def _decide(rule: EventRule, key: str, value: Any, state: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """Whether this record emits now, and what to change in the event; updates ``state``."""
    if rule.when in ("always", "present"):
        return True, {}
    if rule.when == "change":
        old = state.get(key, _MISSING)
        state[key] = value
        return (old is _MISSING and rule.initial) or (old is not _MISSING and old != value), {}
    if rule.when == "decrease":
        try:
            num = to_number(value)
        except (TypeError, ValueError):
            return False, {}
        prev = state.get(key)
        state[key] = num
        return prev is not None and num < prev, {"value": num}
    if rule.when == "threshold" and rule.threshold is not None:
        old = state.get(key, _MISSING)
        try:
            sev = rule.threshold.evaluate(value, None if old is _MISSING else old)
        except (TypeError, ValueError):
            return False, {}  # no value this poll (first rate sample, counter reset): nothing changes
        sev = _held(rule, key, sev, old, state)
        state[key] = sev
        emit = old != sev and not (old is _MISSING and sev == Severity.clear and not rule.initial)
        return emit, {"severity": sev}
    return False, {}


def _reassert(rule: EventRule, key: str, ident: tuple[str, str, str], tctx: Mapping[str, Any], value: Any,
              state: Mapping[str, Any], open_keys: Container[tuple[str, str, str]]) -> bool:
    """A condition not sent by change detection: send it anyway when it is not clear (it stays
    open), or when it is clear but the alert table still has it open (a trap or a person said so)."""
    sev = state.get(key) if rule.when == "threshold" else rule.severity.resolve(tctx, value)
    if sev is None:
        return False
    return sev != Severity.clear or ident in open_keys


def _held(rule: EventRule, key: str, sev: Severity, old: Any, state: dict[str, Any]) -> Severity:
    """``for: N``: a new non-clear level counts as crossed only after N polls in a row."""
    pending_key = f"{key}#for"
    if rule.for_cycles <= 1 or sev == Severity.clear or sev == old:
        state.pop(pending_key, None)
        return sev
    seen, count = state.get(pending_key, (None, 0))
    count = count + 1 if seen == sev else 1
    if count >= rule.for_cycles:
        state.pop(pending_key, None)
        return sev
    state[pending_key] = (sev, count)
    return Severity.clear if old is _MISSING else old  # type: ignore[no-any-return]


def evaluate(rules: Sequence[EventRule], records: Sequence[Record], ctx: Context,
             state: dict[str, Any], open_keys: Container[tuple[str, str, str]] = ()) -> list[NormalizedEvent]:
    """Events for this poll's records; ``state`` carries what the last poll saw.

    ``open_keys`` are the (resource, event, component) of open alerts, as far as the caller
    knows: a condition this poll sees clear is cleared again when it is among them.
    The event itself is only built (validated) when it is emitted: a poll that changes
    nothing and sees no condition costs a few template renders, not a pydantic model per record.
    """
    events: list[NormalizedEvent] = []
    for i, rule in enumerate(rules):
        seen: dict[str, NormalizedEvent] = {}
        prev_present: dict[str, NormalizedEvent] = state.get(f"present:{i}", {})
        for row in records:
            if not _matches_only(rule, row):
                continue
            value = row.get(rule.field) if rule.field else None
            original = row.get(ORIGINAL, row)
            fields = {k: v for k, v in row.items() if k != ORIGINAL}
            tctx = {**fields, "row": fields, "original": original, "value": value, "target": ctx.target}
            ident = _identity(rule, ctx, tctx)
            if ident is None:
                continue
            key = f"{i}|{ident[0]}|{ident[1]}|{ident[2]}"
            emit, update = _decide(rule, key, value, state)
            again = False
            if not emit and rule.reassert and _reassert(rule, key, ident, tctx, value, state, open_keys):
                emit, again, update = True, True, ({"severity": state[key]} if rule.when == "threshold" else {})
            if not emit:
                continue
            # A re-assertion of an unchanged record repeats the last event (cheap copy, no rebuild).
            last = state.get(f"{key}#ev") if rule.reassert else None
            if again and last is not None and last[0] == fields and last[1] == ctx.target:
                events.append(last[2].model_copy(update={"occurred_at": ctx.now}))
                continue
            ev = _build(rule, ctx, row, tctx, value, rule.severity.resolve(tctx, value))
            if ev is None:
                continue
            if update:
                ev = ev.model_copy(update=update)
            if rule.reassert and ev.severity != Severity.clear:  # only open conditions are repeated often
                state[f"{key}#ev"] = (fields, ctx.target, ev)
            elif last is not None:
                state.pop(f"{key}#ev", None)
            if rule.when == "present":
                seen[key] = ev
            events.append(ev)
        if rule.when == "present":
            for key, ev in prev_present.items():
                if key not in seen:
                    events.append(ev.model_copy(update={"severity": Severity.clear, "occurred_at": ctx.now}))
            state[f"present:{i}"] = seen
    return events


_MISSING = object()
