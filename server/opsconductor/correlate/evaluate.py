"""Pure per-event decisions: severity mapping, dedup identity, schedules, flap state, templates.

No I/O here: the correlator feeds in the matched rules and the state rows, and
writes back what these functions return.
"""

from __future__ import annotations

import functools
import hashlib
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from opsconductor.correlate.intervals import in_interval
from opsconductor.correlate.rules import Rule, Schedule
from opsconductor.model.event import MATCHABLE_FIELDS, NormalizedEvent, Severity

_TEMPLATE = re.compile(r"\{([^{}]*)\}")


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _getter(name: str) -> Callable[[NormalizedEvent], Any]:
    if name.startswith("labels."):
        key = name[7:]
        return lambda e: e.labels.get(key)
    if name == "severity":
        return lambda e: e.severity.value if e.severity is not None else None
    if name not in MATCHABLE_FIELDS:
        raise KeyError(name)
    return operator.attrgetter(name)


@functools.lru_cache(maxsize=4096)
def getters(names: tuple[str, ...]) -> tuple[Callable[[NormalizedEvent], Any], ...]:
    """Field readers equal to ``NormalizedEvent.field_value`` for each name, built once per name tuple
    (a rule's key fields are read for every event; the generic lookup was a visible cost)."""
    return tuple(_getter(n) for n in names)


def mapped_severity(rule: Rule, event: NormalizedEvent) -> tuple[Severity | None, str]:
    """The severity a ``set`` rule gives, and how it was found (for the trace)."""
    spec = rule.severity
    if spec is None:
        return None, "no severity spec"
    if spec.value is not None:
        return spec.value, f"set to {spec.value.value}"
    if spec.template is not None:
        return None, "from its template (see enrich)"
    raw = event.field_value(spec.source) if spec.source else None
    key = _text(raw)
    for k, sev in spec.mapping:
        if k == key:
            return sev, f"{spec.source}={key!r} -> {sev.value}"
    if spec.default is not None:
        return spec.default, f"{spec.source}={key!r} not in map -> default {spec.default.value}"
    return None, f"{spec.source}={key!r} not in map, no default"


def fast_fingerprint(*parts: str | None) -> str:
    """:func:`~opsconductor.model.decision.fingerprint`, the same bytes hashed in one call."""
    return hashlib.sha256(b"".join(b"\x00\x1f" if p is None else p.encode("utf-8") + b"\x01\x1f"
                                   for p in parts)).hexdigest()


def dedup_fingerprint(rule: Rule | None, event: NormalizedEvent) -> str:
    """The dedup identity: the rule's key fields plus the event (or its correlate group)."""
    if rule is None:
        return fast_fingerprint(event.resource, event.component, event.event)  # default_fingerprint
    parts = [_text(get(event)) for get in getters(rule.dedup_key)]
    if rule.dedup_correlate and event.event in rule.dedup_correlate:
        name = "|".join(rule.dedup_correlate)
    else:
        name = event.event
    return fast_fingerprint(*parts, name)


def in_schedule(s: Schedule, now: datetime) -> bool:
    """Is ``now`` inside the recurring window? Windows may cross midnight (22:00-02:00)."""
    if s.intervals:
        return any(in_interval(iv, now) for iv in s.intervals)
    local = now.astimezone(ZoneInfo(s.timezone))
    t = (local.hour, local.minute)
    if s.start <= s.end:
        return local.weekday() in s.days and s.start <= t < s.end
    # crosses midnight: the window belongs to the day it starts on
    if local.weekday() in s.days and t >= s.start:
        return True
    return (local.weekday() - 1) % 7 in s.days and t < s.end


def render(template: str, values: dict[str, str]) -> str:
    return _TEMPLATE.sub(lambda m: values.get(m.group(1), ""), template)


def group_values(rule: Rule, event: NormalizedEvent) -> dict[str, str] | None:
    """The group_by values of an event, or None when one of them is missing."""
    out: dict[str, str] = {}
    for f, get in zip(rule.group_by, getters(rule.group_by), strict=True):
        v = _text(get(event))
        if v is None:
            return None
        out[f] = v
    return out


def group_key(values: dict[str, str]) -> str:
    return "\x1f".join(f"{k}={v}" for k, v in sorted(values.items()))


def parent_event(rule: Rule, values: dict[str, str], *, clear: bool = False,
                 severity: Severity | None = None) -> NormalizedEvent:
    """The parent alert a correlation raises (or clears) for one group; ``severity`` is its
    children's highest when the rule does not pin one."""
    assert rule.raise_ is not None
    labels = {k[7:]: v for k, v in values.items() if k.startswith("labels.")}
    labels["correlated_by"] = rule.id
    labels["correlation_key"] = group_key(values)
    summary = render(rule.raise_.summary, values) if rule.raise_.summary else (
        f"{rule.count} or more related alerts within {int(rule.within)}s ({rule.id})")
    return NormalizedEvent(
        resource=render(rule.raise_.resource, values) or rule.id,
        event=rule.raise_.event,
        severity=Severity.clear if clear else (rule.raise_.severity or severity or Severity.warning),
        summary=summary,
        labels=labels,
        source="opsconductor",
    )


@dataclass
class FlapRow:
    fingerprint: str
    rule_id: str
    last_state: str
    changes: list[str] = field(default_factory=list)
    flapping: bool = False


def flap_prune(row: FlapRow, within: float, now: datetime) -> list[str]:
    cutoff = now - timedelta(seconds=within)
    return [t for t in row.changes if datetime.fromisoformat(t) >= cutoff]


def flap_step(row: FlapRow | None, rule: Rule, fp: str, is_clear: bool, now: datetime) -> FlapRow:
    """Record a problem/clear observation; flapping starts at ``changes`` state changes within the
    window and (hysteresis) ends only when fewer than half of that remain in the window."""
    state = "clear" if is_clear else "problem"
    if row is None:
        return FlapRow(fp, rule.id, state, [], False)
    changes = flap_prune(row, rule.flap_within, now)
    if row.last_state != state:
        changes.append(now.isoformat())
    return FlapRow(fp, rule.id, state, changes, flap_status(row.flapping, len(changes), rule.flap_changes))


def flap_status(was_flapping: bool, changes: int, threshold: int) -> bool:
    if changes >= threshold:
        return True
    return was_flapping and changes >= math.ceil(threshold / 2)
