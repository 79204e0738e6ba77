"""Warnings for rule authors: rules that load, but will not do what they seem to say.

- A numeric comparison (``gt``, ``ge``, ``lt``, ``le``) on a label: labels are text, so
  ``labels.cpu: {gt: 80}`` never matches. Compare ``value``, or match the text with a regex.
- A rule shadowed by an earlier one of a first-match kind (drop, set, flap, heartbeat):
  every event it matches is taken by the earlier rule, so it never decides.

Shadowing is decided on equality constraints, like the overlap check in ``checks.py``: the
earlier rule must constrain only fields by values (``field: value`` / ``[a, b]``), and the
later one must pin each of those fields to a subset of them.
"""

from __future__ import annotations

from typing import Any

from opsconductor.correlate.checks import _pins
from opsconductor.correlate.matchers import And, Cmp, Eq, Matcher, Not, Or
from opsconductor.correlate.rules import Rule, RuleSet

FIRST_MATCH = ("drop", "severity", "flap", "heartbeat")


def _cmps(m: Matcher) -> list[Cmp]:
    if isinstance(m, Cmp):
        return [m]
    if isinstance(m, Not):
        return _cmps(m.item)
    if isinstance(m, (And, Or)):
        return [c for x in m.items for c in _cmps(x)]
    return []


def _only_pins(m: Matcher) -> dict[str, frozenset[Any]] | None:
    """The matcher's pins when it is nothing but ``field: value(s)`` constraints, else None."""
    items = m.items if isinstance(m, And) else (m,)
    for it in items:
        if isinstance(it, Eq):
            continue
        if isinstance(it, Or) and it.items and all(isinstance(x, Eq) for x in it.items) and \
                len({x.field for x in it.items if isinstance(x, Eq)}) == 1:
            continue
        return None
    return _pins(m)


def shadows(earlier: Matcher, later: Matcher) -> bool:
    """Does every event matching ``later`` match ``earlier``?"""
    a, b = _only_pins(earlier), _pins(later)
    if a is None or b is None:
        return False
    return all(f in b and b[f] <= allowed for f, allowed in a.items())


def _matchers(r: Rule) -> list[tuple[str, Matcher]]:
    named = (("when", r.when), ("clear_on", r.clear_on), ("source", r.inhibit_source),
             ("target", r.inhibit_target), ("down", r.topology_down), ("suppress", r.topology_suppress))
    return [(n, m) for n, m in named if m is not None]


def lint_ruleset(rs: RuleSet) -> list[str]:
    """``file:line:col: warning: ...`` lines; empty when nothing looks wrong."""
    out: list[str] = []
    for r in rs.rules:
        for name, m in _matchers(r):
            for c in _cmps(m):
                if c.field.startswith("labels."):
                    out.append(f"{r.where}: warning: rule {r.id!r}: {name} compares {c.field} as a number "
                               f"({c.op} {c.value}), but labels are text and never compare as numbers; "
                               "compare 'value' or use a regex")
    for kind in FIRST_MATCH:
        rules = rs.of_kind(kind)
        for i, later in enumerate(rules):
            for earlier in rules[:i]:
                if earlier.when is not None and later.when is not None and shadows(earlier.when, later.when):
                    out.append(f"{later.where}: warning: rule {later.id!r} is shadowed by {earlier.id!r} (at "
                               f"{earlier.where}): every event it matches is decided by the earlier rule first")
                    break
    return out
