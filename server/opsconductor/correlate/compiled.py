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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from opsconductor.correlate.compiler import CompiledMatchers, compile_patterns, compile_slots
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
        pairs = rule_slots(ruleset)
        self.slots = [s for s, _ in pairs]
        self.slot_matchers = [m for _, m in pairs]
        self.matchers: CompiledMatchers = compile_slots([(i, m) for i, (_, m) in enumerate(pairs)])
        self._patterns: list[re.Pattern[str]] = compile_patterns(self.matchers)
        self._ref_patterns = {p.pattern: p for p in self._patterns}
        self._cache: dict[tuple[Any, ...], tuple[int, ...]] = {}
        self._regex_memo: dict[tuple[int, Any], tuple[int, ...]] = {}
        self.engine: Classifier | None = None
        self.engine_calls = 0
        self.engine_fallbacks = 0

    def encode(self, event: NormalizedEvent) -> tuple[Any, ...]:
        return self.matchers.encode(event, self._patterns, self._regex_memo)

    def classify(self, events: Sequence[NormalizedEvent]) -> list[list[Slot]]:
        """Matching slots per event, in load order (blocking: call it off the event loop)."""
        keys = [self.matchers.raw_key(e) for e in events]
        missing = list(dict.fromkeys(k for k in keys if k not in self._cache))
        first_event = dict(zip(keys, events, strict=True)) if missing else {}
        if missing:
            if self.engine is None:
                raise RuntimeError("no engine attached to the compiled rule set")
            self.engine_calls += 1
            answers = self.engine.classify([self.matchers.message(self.encode(first_event[k])) for k in missing])
            if len(self._cache) + len(missing) > CACHE_MAX:
                self._cache.clear()
            for k, a in zip(missing, answers, strict=True):
                if a is None:
                    # The engine refused this message (e.g. its evaluation stack limit): answer it
                    # with the reference matcher, which the differential test proves equal.
                    self.engine_fallbacks += 1
                    a = [i for i, m in enumerate(self.slot_matchers)
                         if matches(m, first_event[k], self._ref_patterns)]
                self._cache[k] = tuple(sorted(a))
        return [[self.slots[i] for i in self._cache[k]] for k in keys]

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
