"""Compile matchers into durable-rules ruleset definitions (pure data, no engine).

What makes the engine agree with Python semantics (``matchers.evaluate``):

- Every referenced field is always present in the posted message, as a typed token:
  ``"s:<hash>"`` for text, ``"n:<number>"`` for numbers, ``"-"`` when missing. So
  ``"3"`` never equals ``3``, and ``!=`` works on missing fields (the engine's ``!=``
  never matches an absent field).
- Comparisons use a separate numeric slot plus a kind check: only numbers compare.
- Regexes are evaluated by Python ``re.fullmatch`` while encoding the message and
  posted as 0/1 flags: the engine's Lua-like regex dialect is never used.
- ``not`` is pushed down to the atoms (negation normal form), so the engine only
  sees ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``and``, ``or``.

A posted message fires only ONE rule, so each slot's rule also carries
``_a < k`` and priority ``k``: the engine fires the first matching slot ``k``, we
post again with ``_a = k``, until nothing fires (matches + 1 posts per shard).
Slots are split into shards of :data:`SHARD_SIZE`: far below the engine's node
fan-out limit (512 children), and below its evaluation stack limit (measured: 64
rules matching one event at once pass, 128 fail with error 303). A message the
engine still refuses is answered by the reference matcher (``compiled.py``).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opsconductor.correlate.matchers import And, Cmp, Eq, Exists, Matcher, Not, Or, Regex, fields
from opsconductor.model.event import NormalizedEvent

SHARD_SIZE = 48
SHARD_ATOMS = 256
"""At most this many tests per shard: a node with more than 512 children hangs the engine."""
MISSING = "-"
_NEG_CMP = {"gt": "$lte", "ge": "$lt", "lt": "$gte", "le": "$gt"}
_CMP = {"gt": "$gt", "ge": "$gte", "lt": "$lt", "le": "$lte"}


def token(v: Any) -> str:
    """The typed token of a field value; equal tokens iff strictly equal values."""
    if v is None:
        return MISSING
    if isinstance(v, str):
        return "s:" + hashlib.blake2b(v.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()
    if isinstance(v, bool):
        return "b:" + str(v)
    if isinstance(v, int):
        return f"n:{v}"
    if isinstance(v, float):
        if v != v:  # NaN equals nothing, not even itself
            return "x:nan"
        if v.is_integer():
            return f"n:{int(v)}"
        return f"n:{v!r}"
    return "x:" + type(v).__name__


@dataclass(frozen=True)
class EngineSpec:
    """Everything the engine needs (picklable: it crosses into the worker process)."""

    shards: tuple[dict[str, Any], ...]  # ruleset definitions: {"s<k>": {"all": [...], "pri": k}}
    shard_slots: tuple[tuple[int, ...], ...]  # per shard: slot id of each local index k
    shard_keys: tuple[tuple[str, ...], ...] = ()  # per shard: the message properties its rules read
    shard_routes: tuple[tuple[str, frozenset[str]] | None, ...] = ()  # per shard: (property, tokens it can match)


@dataclass(frozen=True)
class CompiledMatchers:
    """Slots (matcher per slot id) compiled into shards of ruleset definitions."""

    field_names: tuple[str, ...]
    regex_atoms: tuple[tuple[str, str], ...]  # (field, pattern)
    spec: EngineSpec

    @property
    def shards(self) -> tuple[dict[str, Any], ...]:
        return self.spec.shards

    @property
    def shard_slots(self) -> tuple[tuple[int, ...], ...]:
        return self.spec.shard_slots

    def raw_key(self, event: NormalizedEvent) -> tuple[Any, ...]:
        """The values of the referenced fields: equal keys get equal answers (the memo key)."""
        get = event.field_value
        return tuple(get(n) for n in self.field_names)

    def encode(self, event: NormalizedEvent, compiled: Sequence[re.Pattern[str]],
               memo: dict[tuple[int, Any], tuple[int, ...]] | None = None) -> tuple[Any, ...]:
        """The message content the engine needs, as a tuple (see :meth:`message`).

        ``memo`` caches the regex flags of one field value (values repeat far more than events do).
        """
        vals = self.raw_key(event)
        out: list[Any] = []
        for v in vals:
            out.append(token(v))
            out.append(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v else 0.0)
        flags = [0] * len(self.regex_atoms)
        for fi, atom_ids in self.atoms_by_field:
            v = vals[fi]
            if not isinstance(v, str):
                continue
            key = (fi, v)
            bits = memo.get(key) if memo is not None else None
            if bits is None:
                bits = tuple(1 if compiled[j].fullmatch(v) is not None else 0 for j in atom_ids)
                if memo is not None:
                    if len(memo) > 100_000:
                        memo.clear()
                    memo[key] = bits
            for j, bit in zip(atom_ids, bits, strict=True):
                flags[j] = bit
        out.extend(flags)
        return tuple(out)

    @functools.cached_property
    def atoms_by_field(self) -> list[tuple[int, list[int]]]:
        """Regex atom indexes grouped by the position of the field they test."""
        pos = {n: i for i, n in enumerate(self.field_names)}
        groups: dict[int, list[int]] = {}
        for j, (name, _) in enumerate(self.regex_atoms):
            groups.setdefault(pos[name], []).append(j)
        return list(groups.items())

    def message(self, encoded: tuple[Any, ...]) -> dict[str, Any]:
        msg: dict[str, Any] = {"_t": 1}
        n = len(self.field_names)
        for i in range(n):
            tok, num = encoded[2 * i], encoded[2 * i + 1]
            msg[f"f{i}"] = tok
            msg[f"k{i}"] = "n" if tok.startswith("n:") else "o"
            msg[f"n{i}"] = num
        for j in range(len(self.regex_atoms)):
            msg[f"r{j}"] = encoded[2 * n + j]
        return msg


class _Builder:
    def __init__(self, slots: Sequence[tuple[int, Matcher]]):
        names: set[str] = set()
        pats: set[tuple[str, str]] = set()
        for _, m in slots:
            names |= fields(m)
            pats |= _regex_atoms(m)
        self.field_index = {n: i for i, n in enumerate(sorted(names))}
        self.regex_index = {a: j for j, a in enumerate(sorted(pats))}

    def cond(self, m: Matcher, negate: bool = False) -> dict[str, Any]:
        if isinstance(m, Not):
            return self.cond(m.item, not negate)
        if isinstance(m, (And, Or)):
            if not m.items:
                # And() is true, Or() is false; negation swaps them
                truth = isinstance(m, And) != negate
                return {"_t": 1} if truth else {"_t": 0}
            conj = isinstance(m, And) != negate
            parts = [self.cond(x, negate) for x in m.items]
            return parts[0] if len(parts) == 1 else {"$and" if conj else "$or": parts}
        if isinstance(m, Eq):
            f = f"f{self.field_index[m.field]}"
            tok = token(m.value)
            return {"$neq": {f: tok}} if negate else {f: tok}
        if isinstance(m, Exists):
            f = f"f{self.field_index[m.field]}"
            return {f: MISSING} if negate else {"$neq": {f: MISSING}}
        if isinstance(m, Regex):
            return {f"r{self.regex_index[(m.field, m.pattern)]}": 0 if negate else 1}
        assert isinstance(m, Cmp)
        i = self.field_index[m.field]
        if negate:
            return {"$or": [{"$neq": {f"k{i}": "n"}}, {_NEG_CMP[m.op]: {f"n{i}": m.value}}]}
        return {"$and": [{f"k{i}": "n"}, {_CMP[m.op]: {f"n{i}": m.value}}]}


def _regex_atoms(m: Matcher) -> set[tuple[str, str]]:
    if isinstance(m, Regex):
        return {(m.field, m.pattern)}
    if isinstance(m, Not):
        return _regex_atoms(m.item)
    if isinstance(m, (And, Or)):
        return set().union(*(_regex_atoms(x) for x in m.items)) if m.items else set()
    return set()


def _props(cond: Any) -> set[str]:
    """Message properties a compiled condition reads."""
    out: set[str] = set()
    if isinstance(cond, dict):
        for k, v in cond.items():
            if k.startswith("$"):
                out |= _props(v)
            else:
                out.add(k)
    elif isinstance(cond, list):
        for x in cond:
            out |= _props(x)
    return out


def _pin(m: Matcher) -> tuple[str, frozenset[str]] | None:
    """A field the matcher pins to finite values (``field: x`` / ``field: [x, y]`` at the top level).

    ``event`` is preferred, then the other fields in name order, so rules sharing a pin
    field land in the same shards.
    """
    items = m.items if isinstance(m, And) else (m,)
    pins: dict[str, frozenset[str]] = {}
    for it in items:
        if isinstance(it, Eq):
            pins.setdefault(it.field, frozenset([token(it.value)]))
        elif (isinstance(it, Or) and it.items and all(isinstance(x, Eq) for x in it.items)
              and len({x.field for x in it.items if isinstance(x, Eq)}) == 1):
            eqs = [x for x in it.items if isinstance(x, Eq)]
            pins.setdefault(eqs[0].field, frozenset(token(x.value) for x in eqs))
    if not pins:
        return None
    name = "event" if "event" in pins else sorted(pins)[0]
    return name, pins[name]


def compile_slots(slots: Sequence[tuple[int, Matcher]], shard_size: int = SHARD_SIZE) -> CompiledMatchers:
    """Compile (slot id, matcher) pairs into shards.

    Slots pinned to values of one field (usually ``event``) are grouped into shards by that
    field and value, so a message is posted only to shards that can match it (the routing is
    exact: a rule limited to values S of a field never matches another value). Results are
    returned in slot order.
    """
    b = _Builder(slots)
    pins = {slot: _pin(m) for slot, m in slots}

    def order(sm: tuple[int, Matcher]) -> tuple[Any, ...]:
        p = pins[sm[0]]
        return (1, "", (), sm[0]) if p is None else (0, p[0], tuple(sorted(p[1])), sm[0])

    ordered = sorted(slots, key=order)
    atoms = 0
    shards: list[dict[str, Any]] = []
    shard_slots: list[tuple[int, ...]] = []
    shard_keys: list[tuple[str, ...]] = []
    routes: list[tuple[str, frozenset[str]] | None] = []
    chunk: list[tuple[int, Matcher]] = []

    def flush() -> None:
        definition: dict[str, Any] = {}
        keys: set[str] = set()
        field_name: str | None = None
        tokens: set[str] | None = set()
        for k, (slot, m) in enumerate(chunk):
            cond = b.cond(m)
            keys |= _props(cond)
            p = pins[slot]
            if p is None or (field_name is not None and p[0] != field_name) or tokens is None:
                tokens = None
            else:
                field_name = p[0]
                tokens |= p[1]
            # The chain guard goes last so selective tests come first in the alpha network.
            definition[f"s{k}"] = {"all": [{"m": {"$and": [cond, {"$lt": {"_a": k}}]}}], "pri": k}
        shards.append(definition)
        shard_slots.append(tuple(slot for slot, _ in chunk))
        shard_keys.append(tuple(sorted(keys)))
        routes.append((f"f{b.field_index[field_name]}", frozenset(tokens))
                      if tokens is not None and field_name is not None else None)
        chunk.clear()

    for sm in ordered:
        p = pins[sm[0]]
        # a shard holds slots of one pin field only, so it can be routed by that field
        cost = _atoms(sm[1])
        if chunk and (len(chunk) >= shard_size or _pin_field(pins[chunk[0][0]]) != _pin_field(p)
                      or atoms + cost > SHARD_ATOMS):
            flush()
            atoms = 0
        chunk.append(sm)
        atoms += cost
    if chunk:
        flush()
    spec = EngineSpec(tuple(shards), tuple(shard_slots), tuple(shard_keys), tuple(routes))
    return CompiledMatchers(field_names=tuple(b.field_index), regex_atoms=tuple(b.regex_index), spec=spec)


def _atoms(m: Matcher) -> int:
    """How many engine tests a matcher compiles to (comparisons are two)."""
    if isinstance(m, (And, Or)):
        return sum(_atoms(x) for x in m.items) or 1
    if isinstance(m, Not):
        return _atoms(m.item)
    return 2 if isinstance(m, Cmp) else 1


def _pin_field(p: tuple[str, frozenset[str]] | None) -> str | None:
    return p[0] if p is not None else None


def compile_patterns(cm: CompiledMatchers) -> list[re.Pattern[str]]:
    return [re.compile(p) for _, p in cm.regex_atoms]

