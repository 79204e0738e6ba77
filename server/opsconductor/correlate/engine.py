"""The ONE module that imports durable_rules: a small classify-only engine.

:class:`MatchEngine` takes compiled shards (``compiler.py``) and answers, for each
message, which slots match, in priority order. It holds no facts and no
long-lived events: every posted message is either consumed by the rule it fires
or matches nothing, so the engine's memory stays flat.

It drives the library's C core (``durable_rules_engine``) directly instead of
``durable.engine.Host``, which confines the library's hazards:
- no Host, so none of its two background threads (they steal actions, break
  batches and fire timers); no Python callbacks (an action that raises would be
  swallowed into state): we read the fired rule's name and complete the action;
- one JSON text per event, reused for every post of it (the Host re-encodes the
  message for every call, which was most of the cost);
- fresh ruleset names per engine: a name can be registered only once per process and
  a ruleset can never be replaced, so a reload builds a new engine (in a new worker);
- every message carries a unique ``id`` (identical messages raise "observed").
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

import durable_rules_engine as _dre

from opsconductor.correlate.compiler import EngineSpec

_GENERATION = itertools.count(1)
_NOT_HANDLED = 1


class EngineFailure(RuntimeError):
    """The engine rejected a message or a definition (its bare error codes, with context)."""


class MatchEngine:
    """Classify messages against compiled shards; single-threaded by design."""

    def __init__(self, spec: EngineSpec):
        gen = next(_GENERATION)
        self._handles: list[Any] = []
        self._slots = [tuple(s) for s in spec.shard_slots]
        n_shards = len(spec.shards)
        self._keys: list[tuple[str, ...] | None] = [*spec.shard_keys] or [None] * n_shards
        self._routes = list(spec.shard_routes) or [None] * n_shards
        self._seq = itertools.count(1)
        for n, definition in enumerate(spec.shards):
            try:
                self._handles.append(_dre.create_ruleset(f"oc{gen}x{n}", json.dumps(definition)))
            except Exception as exc:  # the C module raises its own bare error type
                raise EngineFailure(f"ruleset {n} rejected: {exc}") from None

    def classify_one(self, message: dict[str, Any]) -> list[int]:
        """Slot ids matching the message, in priority order."""
        out: list[int] = []
        for handle, slots, keys, route in zip(self._handles, self._slots, self._keys, self._routes, strict=True):
            if route is not None and message.get(route[0]) not in route[1]:
                continue  # no rule of this shard can match this value of its pinned field
            # Only the properties this shard reads: the engine's cost grows with message size.
            part = message if keys is None else {k: message[k] for k in keys}
            body = json.dumps(part, ensure_ascii=True)[:-1] if part else "{"
            sep = "," if part else ""
            after = -1
            while True:
                text = f'{body}{sep}"_a":{after},"id":{next(self._seq)},"sid":"0"}}'
                try:
                    res = _dre.assert_event(handle, text)
                    if res[0] == _NOT_HANDLED:
                        break
                    if res[0] != 0:
                        raise EngineFailure(f"engine answered code {res[0]}")
                    action = _dre.start_action_for_state(handle, res[1])
                    if not action:
                        break
                    fired = action[1]  # '{"s<k>": {...}}': the name of the one rule that fired
                    k = int(fired[3 : fired.index('"', 3)])
                    _dre.complete_and_start_action(handle, res[1])
                except EngineFailure:
                    raise
                except Exception as exc:
                    raise EngineFailure(f"engine error: {exc}") from None
                out.append(slots[k])
                after = k
        return out

    def classify(self, messages: Sequence[dict[str, Any]]) -> list[list[int] | None]:
        """Per message its slots, or None where the engine failed (the caller falls back)."""
        out: list[list[int] | None] = []
        for m in messages:
            try:
                out.append(self.classify_one(m))
            except EngineFailure:
                out.append(None)
        return out
