"""The matcher language of rules, and its reference semantics in plain Python.

A ``when:`` mapping is parsed into a small tree (:class:`Eq`, :class:`Regex`,
:class:`Cmp`, :class:`Exists`, :class:`Not`, :class:`And`, :class:`Or`). The
reference evaluator :func:`evaluate` below IS the specification: strict types
(``"3"`` never equals ``3``; ``3`` equals ``3.0``), Python ``re`` full match on
strings only, comparisons on numbers only, and a missing field is ``None``.
The durable-rules path (``compiler.py`` + ``engine.py``) must give the same
answers; a differential property test keeps them equal.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from opsconductor.model.event import MATCHABLE_FIELDS, NormalizedEvent

Scalar = str | int | float | None

MAX_REGEX_LENGTH = 512
CMP_OPS = ("gt", "ge", "lt", "le")


@dataclass(frozen=True, slots=True)
class Eq:
    field: str
    value: Scalar


@dataclass(frozen=True, slots=True)
class Regex:
    field: str
    pattern: str


@dataclass(frozen=True, slots=True)
class Cmp:
    field: str
    op: str  # gt | ge | lt | le
    value: float | int


@dataclass(frozen=True, slots=True)
class Exists:
    field: str


@dataclass(frozen=True, slots=True)
class Not:
    item: Matcher


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Matcher, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Matcher, ...]


Matcher = Eq | Regex | Cmp | Exists | Not | And | Or
TRUE: Matcher = And(())


def is_field(name: str) -> bool:
    return name in MATCHABLE_FIELDS or (name.startswith("labels.") and len(name) > 7)


def strict_equal(actual: Any, expected: Scalar) -> bool:
    """Equality without cross-type coercion: strings equal strings, numbers equal numbers."""
    if expected is None:
        return actual is None
    if isinstance(expected, str):
        return isinstance(actual, str) and actual == expected
    return isinstance(actual, (int, float)) and not isinstance(actual, bool) and actual == expected


def compare(actual: Any, op: str, threshold: float | int) -> bool:
    if not isinstance(actual, (int, float)) or isinstance(actual, bool) or math.isnan(actual):
        return False
    if op == "gt":
        return bool(actual > threshold)
    if op == "ge":
        return bool(actual >= threshold)
    if op == "lt":
        return bool(actual < threshold)
    return bool(actual <= threshold)


def regex_match(pattern: re.Pattern[str], actual: Any) -> bool:
    return isinstance(actual, str) and pattern.fullmatch(actual) is not None


def evaluate(m: Matcher, get: Any, regexes: dict[str, re.Pattern[str]]) -> bool:
    """Reference semantics; ``get(field)`` returns the field's value or None."""
    if isinstance(m, Eq):
        return strict_equal(get(m.field), m.value)
    if isinstance(m, Regex):
        return regex_match(regexes.get(m.pattern) or re.compile(m.pattern), get(m.field))
    if isinstance(m, Cmp):
        return compare(get(m.field), m.op, m.value)
    if isinstance(m, Exists):
        return get(m.field) is not None
    if isinstance(m, Not):
        return not evaluate(m.item, get, regexes)
    if isinstance(m, And):
        return all(evaluate(x, get, regexes) for x in m.items)
    return any(evaluate(x, get, regexes) for x in m.items)


def matches(m: Matcher, event: NormalizedEvent, regexes: dict[str, re.Pattern[str]] | None = None) -> bool:
    """Does the event match? (reference matcher; compiles regexes on demand)."""
    rx = regexes if regexes is not None else {p: re.compile(p) for p in patterns(m)}
    return evaluate(m, event.field_value, rx)


def fields(m: Matcher) -> set[str]:
    if isinstance(m, (Eq, Regex, Cmp, Exists)):
        return {m.field}
    if isinstance(m, Not):
        return fields(m.item)
    return set().union(*(fields(x) for x in m.items)) if m.items else set()


def patterns(m: Matcher) -> set[str]:
    if isinstance(m, Regex):
        return {m.pattern}
    if isinstance(m, Not):
        return patterns(m.item)
    if isinstance(m, (And, Or)):
        return set().union(*(patterns(x) for x in m.items)) if m.items else set()
    return set()


def describe(m: Matcher) -> str:
    """A short human-readable rendering, for explain and check messages."""
    if isinstance(m, Eq):
        return f"{m.field} == {m.value!r}"
    if isinstance(m, Regex):
        return f"{m.field} =~ /{m.pattern}/"
    if isinstance(m, Cmp):
        return f"{m.field} {m.op} {m.value}"
    if isinstance(m, Exists):
        return f"exists({m.field})"
    if isinstance(m, Not):
        return f"not ({describe(m.item)})"
    if not m.items:
        return "true" if isinstance(m, And) else "false"
    sep = " and " if isinstance(m, And) else " or "
    return "(" + sep.join(describe(x) for x in m.items) + ")"


# -- catastrophic backtracking ----------------------------------------------------------
def backtracking_risk(pattern: str) -> str | None:
    """Why a regex may backtrack catastrophically (a repeat inside a repeat), or None.

    Python's ``re`` has no time limit, so we refuse the shapes that are exponential
    (``(a+)+``, ``(a|aa)*``, ``(.*)*``) instead of hoping inputs stay short.
    """
    import re._parser as sre_parse  # the stdlib parser; stable across 3.11/3.12

    try:
        tree = sre_parse.parse(pattern)
    except re.error:
        return None  # reported as a bad regex elsewhere

    repeat_ops = {sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, sre_parse.POSSESSIVE_REPEAT}

    def walk(items: Any, inside_repeat: bool) -> str | None:
        for op, av in items:
            if op in repeat_ops:
                _lo, hi, body = av
                unbounded = hi == sre_parse.MAXREPEAT or hi > 10
                if inside_repeat and unbounded and op != sre_parse.POSSESSIVE_REPEAT:
                    return "nested unbounded repetition (e.g. (a+)+) can backtrack catastrophically"
                if unbounded and _has_alternation_overlap(body):
                    return "a repeated alternation can backtrack catastrophically"
                found = walk(body, inside_repeat or unbounded)
                if found:
                    return found
            elif op == sre_parse.SUBPATTERN:
                found = walk(av[-1], inside_repeat)
                if found:
                    return found
            elif op == sre_parse.BRANCH:
                for branch in av[1]:
                    found = walk(branch, inside_repeat)
                    if found:
                        return found
        return None

    return walk(tree, False)


def _has_alternation_overlap(body: Any) -> bool:
    """A repeated group whose alternatives can match the same text, e.g. (a|aa)* or (a|a?)+."""
    import re._parser as sre_parse

    for op, av in body:
        if op == sre_parse.SUBPATTERN:
            return _has_alternation_overlap(av[-1])
        if op == sre_parse.BRANCH:
            firsts = []
            for branch in av[1]:
                if not branch:
                    return True
                firsts.append(str(next(iter(branch))))
            return len(firsts) != len(set(firsts))
    return False
