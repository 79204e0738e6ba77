"""Semantic checks over a whole rule set (after each file parsed cleanly).

- duplicate ids (across files)
- a rule that can never match (contradictory constraints on one field)
- an inhibit rule whose source and target can match the same event (it would hide itself)
- a cycle of inhibitions (a hides b, b hides a)
- overlapping dedup rules (the later one never decides for events the earlier one matches)

Overlap is decided on equality constraints (``field: value`` / ``field: [a, b]``):
two matchers are disjoint when some field is pinned to disjoint value sets. That
is exact for the common network rules (``event: link_down``) and errs on the side
of "may overlap" otherwise.
"""

from __future__ import annotations

from typing import Any

from opsconductor.correlate.matchers import And, Cmp, Eq, Exists, Matcher, Not, Or, describe
from opsconductor.correlate.rules import Rule, RuleSet
from opsconductor.errors import ConfigError, Location


def _pins(m: Matcher) -> dict[str, frozenset[Any]] | None:
    """Per field, the finite set of values the matcher allows; None if it can never match."""
    items = m.items if isinstance(m, And) else (m,)
    out: dict[str, frozenset[Any]] = {}
    ranges: dict[str, list[tuple[str, float]]] = {}
    for it in items:
        allowed: frozenset[Any] | None = None
        field: str | None = None
        if isinstance(it, Eq):
            field, allowed = it.field, frozenset([_key(it.value)])
        elif isinstance(it, Or) and it.items and all(isinstance(x, Eq) for x in it.items):
            eqs = [x for x in it.items if isinstance(x, Eq)]
            if len({x.field for x in eqs}) == 1:
                field, allowed = eqs[0].field, frozenset(_key(x.value) for x in eqs)
        elif isinstance(it, Or) and not it.items:
            return None
        elif isinstance(it, Not) and isinstance(it.item, Exists):
            field, allowed = it.item.field, frozenset([_key(None)])
        elif isinstance(it, Cmp):
            ranges.setdefault(it.field, []).append((it.op, float(it.value)))
        if field is not None and allowed is not None:
            prev = out.get(field)
            out[field] = allowed if prev is None else prev & allowed
            if not out[field]:
                return None
    for field, rs in ranges.items():
        lo = max((v for op, v in rs if op in ("gt", "ge")), default=float("-inf"))
        hi = min((v for op, v in rs if op in ("lt", "le")), default=float("inf"))
        strict = any(op in ("gt", "lt") and v in (lo, hi) for op, v in rs)
        if lo > hi or (lo == hi and strict):
            return None
        if field in out and not any(isinstance(v, tuple) and v[0] == "n" for v in out[field]):
            return None  # pinned to non-numbers but compared as a number
    return out


def _key(v: Any) -> Any:
    if v is None:
        return ("z", None)
    if isinstance(v, str):
        return ("s", v)
    return ("n", float(v))


def may_overlap(a: Matcher, b: Matcher) -> bool:
    pa, pb = _pins(a), _pins(b)
    if pa is None or pb is None:
        return False
    return all(pa[f] & pb[f] for f in pa.keys() & pb.keys())


def _err(rule: Rule, msg: str) -> ConfigError:
    return ConfigError(msg, Location(rule.where.file, rule.where.line, rule.where.col), field=rule.id)


def check_ruleset(rs: RuleSet) -> list[ConfigError]:
    errors: list[ConfigError] = []
    seen: dict[str, Rule] = {}
    for r in rs.rules:
        if r.id in seen:
            errors.append(_err(r, f"duplicate rule id {r.id!r} (first defined at {seen[r.id].where})"))
        else:
            seen[r.id] = r
        for name, m in (("when", r.when), ("clear_on", r.clear_on), ("source", r.inhibit_source),
                        ("target", r.inhibit_target)):
            if m is not None and _pins(m) is None:
                errors.append(_err(r, f"rule {r.id!r} can never match: {name} {describe(m)} is contradictory"))
    inhibits = rs.of_kind("inhibit")
    for r in inhibits:
        assert r.inhibit_source is not None and r.inhibit_target is not None
        if may_overlap(r.inhibit_source, r.inhibit_target):
            errors.append(_err(r, f"inhibit rule {r.id!r} inhibits itself: an event can match both its source "
                                  "and its target; make them disjoint (e.g. different event names)"))
    edges = {a.id: [b.id for b in inhibits if a is not b and a.inhibit_target is not None
                    and b.inhibit_source is not None and may_overlap(a.inhibit_target, b.inhibit_source)]
             for a in inhibits}
    reported: set[frozenset[str]] = set()
    for a in inhibits:
        path = _cycle(a.id, edges)
        if path and frozenset(path) not in reported:
            reported.add(frozenset(path))
            errors.append(_err(a, "inhibition cycle: " + " -> ".join([*path, path[0]])
                               + " (alerts could hide each other and never notify)"))
    dedups = rs.of_kind("dedup")
    for i, b in enumerate(dedups):
        for a in dedups[:i]:
            if a.when is not None and b.when is not None and may_overlap(a.when, b.when):
                errors.append(_err(b, f"dedup rule {b.id!r} overlaps {a.id!r} (at {a.where}): an event "
                                      f"matching both is keyed by {a.id!r} only; narrow one of them"))
                break
    return errors


def _cycle(start: str, edges: dict[str, list[str]]) -> list[str] | None:
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    while stack:
        node, path = stack.pop()
        for nxt in edges.get(node, []):
            if nxt == start:
                return path
            if nxt not in path:
                stack.append((nxt, [*path, nxt]))
    return None
