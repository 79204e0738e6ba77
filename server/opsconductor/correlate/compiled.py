"""A loaded rule set, compiled: every matcher of every rule as a numbered slot.

:meth:`CompiledRuleSet.classify` answers "which rules (and which of their
matchers) does this event match, in load order". It asks the engine (a
:class:`Classifier`: the durable-rules worker process, or the in-process engine
for ``rules test``/``explain``) and memoizes the answer by the encoded message:
the answer depends only on the fields the rules reference, so repeats of the
same (event, labels, ...) shape never reach the engine twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from opsconductor.correlate.compiler import CompiledMatchers, compile_patterns, compile_slots
from opsconductor.correlate.evaluate import getters
from opsconductor.correlate.matchers import Matcher, matches
from opsconductor.correlate.rules import Rule, RuleSet
from opsconductor.model.event import NormalizedEvent

CACHE_MAX = 200_000


class Classifier(Protocol):
    def classify(self, messages: Sequence[dict[str, Any]]) -> list[list[int] | None]: ...


@dataclass(frozen=True, slots=True)
class Slot:
    rule: Rule
    role: str  # when | clear_on | source | target


class Plan:
    """One distinct answer of :meth:`CompiledRuleSet.classify`, with what the correlator asks of it
    precomputed once (events of the same shape share one plan: no per-event scans of the slots)."""

    __slots__ = (
        "_static",
        "clear_on_rules",
        "correlate_rules",
        "first",
        "flap_rule",
        "has_correlate",
        "has_flap",
        "inhibit_sources",
        "inhibit_targets",
        "maintenance",
        "match_trace",
        "slots",
    )

    def __init__(self, slots: tuple[Slot, ...]):
        self.slots = slots
        first: dict[str, Rule] = {}
        for s in slots:
            if s.role == "when":
                first.setdefault(s.rule.kind, s.rule)
        self.first = first
        self.match_trace: dict[str, Any] = {"stage": "match", "rules": list(dict.fromkeys(
            s.rule.id + ("" if s.role == "when" else f":{s.role}") for s in slots))}
        self.maintenance = tuple(s.rule for s in slots if s.rule.kind == "maintenance" and s.role == "when"
                                 and s.rule.schedule is not None)
        self.inhibit_targets = tuple(s for s in slots if s.rule.kind == "inhibit" and s.role == "target")
        self.inhibit_sources = tuple(s.rule for s in slots if s.rule.kind == "inhibit" and s.role == "source")
        self.flap_rule = next((s.rule for s in slots if s.rule.kind == "flap" and s.role == "when"), None)
        self.correlate_rules = tuple(s.rule for s in slots if s.rule.kind == "correlate" and s.role == "when")
        self.clear_on_rules = frozenset(s.rule.id for s in slots if s.role == "clear_on")
        self.has_flap = any(s.rule.kind == "flap" for s in slots)
        self.has_correlate = any(s.rule.kind == "correlate" for s in slots)
        self._static: dict[Any, Any] = {}

    def static(self, key: Any, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """A trace entry that depends only on the rules of this plan, built once (callers never mutate it)."""
        entry = self._static.get(key)
        if entry is None:
            entry = self._static[key] = build()
        return entry  # type: ignore[no-any-return]

    def where(self, rule: Rule) -> str:
        text = self._static.get(("where", rule.id))
        if text is None:
            text = self._static[("where", rule.id)] = str(rule.where)
        return text  # type: ignore[no-any-return]


def rule_slots(ruleset: RuleSet) -> list[tuple[Slot, Matcher]]:
    out: list[tuple[Slot, Matcher]] = []
    for r in ruleset.rules:
        if r.when is not None:
            out.append((Slot(r, "when"), r.when))
        if r.clear_on is not None:
            out.append((Slot(r, "clear_on"), r.clear_on))
        if r.inhibit_source is not None:
            out.append((Slot(r, "source"), r.inhibit_source))
        if r.inhibit_target is not None:
            out.append((Slot(r, "target"), r.inhibit_target))
    return out


class CompiledRuleSet:
    """Rules + compiled slots + an engine handle + the memo cache."""

    def __init__(self, ruleset: RuleSet):
        self.ruleset = ruleset
        self.version = ruleset.version
        self.version_trace: dict[str, Any] = {"stage": "ruleset", "version": ruleset.version}  # shared, read-only
        pairs = rule_slots(ruleset)
        self.slots = [s for s, _ in pairs]
        self.slot_matchers = [m for _, m in pairs]
        self.matchers: CompiledMatchers = compile_slots([(i, m) for i, (_, m) in enumerate(pairs)])
        self._patterns: list[re.Pattern[str]] = compile_patterns(self.matchers)
        self._ref_patterns = {p.pattern: p for p in self._patterns}
        self._cache: dict[tuple[Any, ...], Plan] = {}
        self._plans: dict[tuple[int, ...], Plan] = {}  # shared by every cache entry with the same answer
        self._regex_memo: dict[tuple[int, Any], tuple[int, ...]] = {}
        self.engine: Classifier | None = None
        self.engine_calls = 0
        self.engine_fallbacks = 0

    def encode(self, event: NormalizedEvent) -> tuple[Any, ...]:
        return self.matchers.encode(event, self._patterns, self._regex_memo)

    def classify(self, events: Sequence[NormalizedEvent]) -> list[list[Slot]]:
        """Matching slots per event, in load order (blocking: call it off the event loop)."""
        return [list(p.slots) for p in self.classify_plans(events)]

    def _plan(self, ids: tuple[int, ...]) -> Plan:
        plan = self._plans.get(ids)
        if plan is None:
            plan = self._plans[ids] = Plan(tuple(self.slots[i] for i in ids))
        return plan

    def classify_plans(self, events: Sequence[NormalizedEvent]) -> list[Plan]:
        """:meth:`classify` as one shared :class:`Plan` per distinct answer."""
        gets = getters(self.matchers.field_names)  # the same values as matchers.raw_key, read faster
        keys = [tuple([g(e) for g in gets]) for e in events]
        missing = list(dict.fromkeys(k for k in keys if k not in self._cache))
        first_event = dict(zip(keys, events, strict=True)) if missing else {}
        if missing:
            if self.engine is None:
                raise RuntimeError("no engine attached to the compiled rule set")
            self.engine_calls += 1
            answers = self.engine.classify([self.matchers.message(self.encode(first_event[k])) for k in missing])
            if len(self._cache) + len(missing) > CACHE_MAX:
                self._cache.clear()
                self._plans.clear()
            for k, a in zip(missing, answers, strict=True):
                if a is None:
                    # The engine refused this message (e.g. its evaluation stack limit): answer it
                    # with the reference matcher, which the differential test proves equal.
                    self.engine_fallbacks += 1
                    a = [i for i, m in enumerate(self.slot_matchers)
                         if matches(m, first_event[k], self._ref_patterns)]
                self._cache[k] = self._plan(tuple(sorted(a)))
        cache = self._cache
        return [cache[k] for k in keys]

    def classify_reference(self, event: NormalizedEvent) -> list[Slot]:
        """The same answer from the plain-Python reference matcher (tests, differential checks)."""
        return [s for s, m in zip(self.slots, self.slot_matchers, strict=True)
                if matches(m, event, self._ref_patterns)]

    @property
    def shards(self) -> tuple[dict[str, Any], ...]:
        return self.matchers.shards

    @property
    def shard_slots(self) -> tuple[tuple[int, ...], ...]:
        return self.matchers.shard_slots
