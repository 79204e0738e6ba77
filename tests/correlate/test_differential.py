"""Differential property test: the durable-rules path answers exactly like the Python reference matcher.

Random matcher trees (equality with strict types, any-of, regex, comparisons, exists,
not, and/or) over random events, compiled into small shards so several shards and
the post-again chain are exercised; every slot list must equal the reference's.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsconductor.correlate.compiler import compile_patterns, compile_slots
from opsconductor.correlate.engine import MatchEngine
from opsconductor.correlate.matchers import And, Cmp, Eq, Exists, Matcher, Not, Or, Regex, matches
from opsconductor.model.event import NormalizedEvent

FIELDS = ["event", "component", "value", "labels.site"]
# Small value pools so rules and events collide often (edge cases: "3" vs 3 vs 3.0, equal bounds).
TEXT = st.sampled_from(["a", "3", "3.0", "rtr1", "rtr12", "", "ä", "x y", "major"])
NUM = st.sampled_from([3, 3.0, -1, 2.5, 0])
SCALAR = st.one_of(TEXT, NUM, st.none())
PATTERNS = st.sampled_from([r"rtr\d+", r"a|b", r".*", r"[a-z]+", r"3(\.0)?", r"", r"x y", r"\w"])


def atoms() -> st.SearchStrategy[Matcher]:
    f = st.sampled_from(FIELDS)
    return st.one_of(
        st.builds(Eq, f, SCALAR),
        st.builds(Regex, f, PATTERNS),
        st.builds(Cmp, f, st.sampled_from(["gt", "ge", "lt", "le"]), NUM),
        st.builds(Exists, f),
    )


MATCHERS = st.recursive(
    atoms(),
    lambda inner: st.one_of(
        st.builds(Not, inner),
        st.builds(And, st.lists(inner, max_size=3).map(tuple)),
        st.builds(Or, st.lists(inner, max_size=3).map(tuple)),
    ),
    max_leaves=6,
)


@st.composite
def events(draw: Any) -> NormalizedEvent:
    labels = draw(st.dictionaries(st.sampled_from(["site", "role"]), TEXT, max_size=2))
    return NormalizedEvent(
        resource=draw(st.sampled_from(["rtr1", "rtr12", "a", "3"])),
        event=draw(st.sampled_from(["link_down", "a", "b"])),
        component=draw(st.one_of(st.none(), TEXT.filter(bool))),
        severity=draw(st.one_of(st.none(), st.sampled_from(["major", "minor", "clear"]))),
        summary=draw(st.one_of(st.none(), TEXT)),
        value=draw(st.one_of(st.none(), TEXT, NUM)),
        labels=labels,
    )


@pytest.mark.fuzz
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(MATCHERS, min_size=1, max_size=12), st.lists(events(), min_size=1, max_size=8),
       st.integers(1, 5))
def test_engine_equals_reference(rules: list[Matcher], evs: list[NormalizedEvent], shard: int) -> None:
    slots = list(enumerate(rules))
    cm = compile_slots(slots, shard_size=shard)
    engine = MatchEngine(cm.spec)
    rx = compile_patterns(cm)
    for ev in evs:
        got = sorted(engine.classify_one(cm.message(cm.encode(ev, rx))))
        want = [i for i, m in slots if matches(m, ev)]
        assert got == want, (ev, [rules[i] for i in set(got) ^ set(want)])


def test_the_engine_fires_every_match_in_priority_order() -> None:
    # A posted event fires only one rule; the compiler's post-again chain must still find all of them.
    slots = [(i, Eq("event", "link_down")) for i in range(40)]
    cm = compile_slots(slots)
    engine = MatchEngine(cm.spec)
    ev = NormalizedEvent(resource="r", event="link_down")
    assert engine.classify_one(cm.message(cm.encode(ev, []))) == list(range(40))


def test_strict_types_and_python_regex_semantics() -> None:
    slots: list[tuple[int, Matcher]] = [(0, Eq("value", 3)), (1, Eq("value", "3")), (2, Regex("resource", r"rtr\d+")),
                                        (3, Not(Eq("component", "x"))), (4, Regex("resource", "rtr"))]
    cm = compile_slots(slots)
    engine = MatchEngine(cm.spec)
    rx = compile_patterns(cm)
    ev = NormalizedEvent(resource="rtr12", event="e", value="3")
    # "3" is not 3; \d works (the engine's own dialect would not); != matches a missing field;
    # regexes are full matches ("rtr" does not match "rtr12").
    assert engine.classify_one(cm.message(cm.encode(ev, rx))) == [1, 2, 3]


GRID: list[Any] = [None, "3", 3, 3.0, 2.5, -1, 0, "", "rtr12", "ä"]


def test_every_atom_and_its_negation_on_a_value_grid() -> None:
    # Exhaustive at the atom level, where the type and missing-field semantics live.
    atoms_: list[Matcher] = [Eq("value", v) for v in GRID]
    atoms_ += [Cmp("value", op, v) for op in ("gt", "ge", "lt", "le") for v in (3, 2.5, 0, -1)]
    atoms_ += [Exists("value"), Regex("value", r"\d"), Regex("value", r"rtr\d+"), Regex("value", "")]
    slots = [(i, m) for i, m in enumerate([*atoms_, *(Not(a) for a in atoms_)])]
    cm = compile_slots(slots)
    engine = MatchEngine(cm.spec)
    rx = compile_patterns(cm)
    for v in GRID:
        ev = NormalizedEvent(resource="r", event="e", value=v)
        got = engine.classify_one(cm.message(cm.encode(ev, rx)))
        want = [i for i, m in slots if matches(m, ev)]
        assert got == want, (v, [slots[i][1] for i in set(got) ^ set(want)])


@pytest.mark.fuzz
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(MATCHERS, min_size=1, max_size=10), st.lists(events(), min_size=1, max_size=12))
def test_compiled_ruleset_with_memo_caches_equals_reference(rules: list[Matcher], evs: list[NormalizedEvent]) -> None:
    # The production path: memo of answers by field values, memo of regex flags by value, fallback.
    from opsconductor.correlate.compiled import CompiledRuleSet
    from opsconductor.correlate.rules import Rule, RuleFile, RuleSet, Where
    from opsconductor.correlate.worker import InProcessEngine

    rs = RuleSet((RuleFile("x.yaml", tuple(Rule(id=f"r{i}", kind="drop", where=Where("x.yaml", 1, 1), index=i,
                                                 when=m) for i, m in enumerate(rules)), (), ""),), "v")
    compiled = CompiledRuleSet(rs)
    compiled.engine = InProcessEngine(compiled.matchers.spec)
    for _ in range(2):  # the second pass answers from the memo
        got = compiled.classify(evs)
        assert [[s.rule.id for s in g] for g in got] == [
            [s.rule.id for s in compiled.classify_reference(e)] for e in evs]
