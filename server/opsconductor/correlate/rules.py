"""The rule model: what a parsed rule file holds, free of YAML and of the engine.

Rules are data. Each rule has one kind, given by its action key (``drop``, ``set``,
``dedup``, ``maintenance``, ``inhibit``, ``flap``, ``correlate``). The correlator
evaluates kinds in the fixed order of :data:`KIND_ORDER`; within a kind the first
matching rule in load order (files sorted by name, rules in file order) wins,
except inhibition and correlation where every matching rule applies.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from opsconductor.correlate.intervals import Interval
from opsconductor.correlate.matchers import Matcher
from opsconductor.model.event import Severity

KIND_ORDER = ("heartbeat", "drop", "severity", "dedup", "maintenance", "inhibit", "flap", "correlate", "topology")
"""Evaluation order; lifecycle (the store) follows."""

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(v: Any) -> float | None:
    """``90s``, ``10m``, ``2h``, ``1d`` or a number of seconds; None if malformed."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v) if v >= 0 else None
    if isinstance(v, str):
        m = _DURATION.match(v.strip())
        if m:
            return float(m.group(1)) * _UNITS[m.group(2)]
    return None


@dataclass(frozen=True, slots=True)
class Where:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class SeveritySpec:
    value: Severity | None = None  # a constant
    source: str | None = None  # ``from``: a field whose value is looked up in ``mapping``
    mapping: tuple[tuple[str, Severity], ...] = ()
    default: Severity | None = None
    template: str | None = None  # a Jinja2 expression giving a severity name (enrich.py)


@dataclass(frozen=True, slots=True)
class Schedule:
    days: frozenset[int]  # 0 = Monday
    start: tuple[int, int]  # (hour, minute)
    end: tuple[int, int]
    timezone: str
    intervals: tuple[Interval, ...] = ()  # Alertmanager-style or one-off; when given, days..timezone are unused


@dataclass(frozen=True, slots=True)
class Raise:
    event: str
    resource: str  # template: "{labels.site}"
    severity: Severity | None  # None: the highest severity among its open children
    summary: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    kind: str
    where: Where
    index: int  # position in the whole ruleset (load order)
    description: str | None = None
    when: Matcher | None = None
    severity: SeveritySpec | None = None
    set_summary: str | None = None  # set: a template for the summary
    set_labels: tuple[tuple[str, str], ...] = ()  # set: label name -> template
    dedup_key: tuple[str, ...] = ()
    dedup_correlate: tuple[str, ...] = ()
    clear_on: Matcher | None = None
    timeout: int | None = None
    inhibit_source: Matcher | None = None
    inhibit_target: Matcher | None = None
    equal: tuple[str, ...] = ()
    flap_changes: int = 0
    flap_within: float = 0.0
    group_by: tuple[str, ...] = ()
    count: int = 0
    within: float = 0.0
    raise_: Raise | None = None
    suppress_members: bool = False
    heartbeat_timeout: int = 0  # heartbeat: seconds within which a matching event must arrive again
    heartbeat_origin: str = "{resource}"  # heartbeat: template over the event's fields
    topology_down: Matcher | None = None  # topology: an open alert matching this means its resource is down
    topology_suppress: Matcher | None = None  # topology: which dependents' events are suppressed (None: all)
    topology_settle: float = 0.0  # topology: seconds dependents stay suppressed after the upstream recovered
    resolve: str = "all"  # correlation parent: resolves when all children did ("all") or the first ("any")
    schedule: Schedule | None = None
    source_text: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class TimedInput:
    at: float
    event: dict[str, Any] | None
    where: Where


@dataclass(frozen=True, slots=True)
class Expectation:
    at: float | None
    alerts: tuple[dict[str, Any], ...]
    where: Where


@dataclass(frozen=True, slots=True)
class RuleTest:
    name: str
    where: Where
    start: str | None
    steps: tuple[TimedInput, ...]
    expects: tuple[Expectation, ...]
    targets: tuple[dict[str, Any], ...] = ()  # inventory for the test: {name, depends_on, labels}


@dataclass(frozen=True)
class RuleFile:
    path: str
    rules: tuple[Rule, ...]
    tests: tuple[RuleTest, ...]
    sha256: str


@dataclass(frozen=True)
class RuleSet:
    """Every rule of every file, in load order, plus the version that identifies them."""

    files: tuple[RuleFile, ...]
    version: str

    @functools.cached_property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(r for f in self.files for r in f.rules)

    @functools.cached_property
    def _by_kind(self) -> dict[str, tuple[Rule, ...]]:
        out: dict[str, list[Rule]] = {}
        for r in self.rules:
            out.setdefault(r.kind, []).append(r)
        return {k: tuple(v) for k, v in out.items()}

    def of_kind(self, kind: str) -> tuple[Rule, ...]:
        return self._by_kind.get(kind, ())

    @functools.cached_property
    def by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}

    @property
    def tests(self) -> tuple[RuleTest, ...]:
        return tuple(t for f in self.files for t in f.tests)
