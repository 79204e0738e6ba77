"""The ONE module that imports durable_rules: a small classify-only engine.

:class:`MatchEngine` takes compiled shards (``compiler.py``) and answers, for each
message, which slots match, in priority order. It holds no facts and no
long-lived events: every posted message is either consumed by the rule it fires
or matches nothing, so the engine's memory stays flat.

Confinement of the library's hazards:
- No background threads: :class:`_QuietHost` never starts the dispatch/timer threads.
- Fresh names per engine: a ruleset name can be registered only once per process and
  can never be replaced, so a reload builds a new engine (in a new worker process).
- Definitions are deep-copied before registration (the library mutates them).
- Every message carries a unique ``id`` (identical messages raise MessageObserved).
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Sequence
from typing import Any

from durable import engine as _dr

_GENERATION = itertools.count(1)


class _QuietHost(_dr.Host):  # type: ignore[misc]
    """A Host without the two background threads that steal actions and fire timers."""

    def _run(self) -> None:
        return None


class EngineFailure(RuntimeError):
    """The engine rejected a message or a definition (its bare error codes, with context)."""


class MatchEngine:
    """Classify messages against compiled shards; single-threaded by design."""

    def __init__(self, shards: Sequence[dict[str, Any]], shard_slots: Sequence[Sequence[int]]):
        gen = next(_GENERATION)
        self._host = _QuietHost()
        self._fired: list[int] = []
        self._names: list[str] = []
        self._slots = [tuple(s) for s in shard_slots]
        self._seq = itertools.count(1)
        for n, definition in enumerate(shards):
            name = f"oc{gen}x{n}"
            rules = copy.deepcopy(definition)
            for rule_name, rule in rules.items():
                rule["run"] = self._action(int(rule_name[1:]))
            try:
                self._host.register_rulesets({name: rules})
            except Exception as exc:  # the library raises bare Exception / its C error type
                raise EngineFailure(f"ruleset {n} rejected: {exc}") from None
            self._names.append(name)

    def _action(self, k: int) -> Callable[[Any], None]:
        def fire(_c: Any) -> None:
            self._fired.append(k)

        return fire

    def classify_one(self, message: dict[str, Any]) -> list[int]:
        """Slot ids matching the message, in priority order."""
        out: list[int] = []
        for name, slots in zip(self._names, self._slots, strict=True):
            after = -1
            while True:
                self._fired.clear()
                msg = dict(message, _a=after, id=next(self._seq), sid="0")
                try:
                    self._host.post(name, msg)
                except _dr.MessageNotHandledException:
                    break
                except Exception as exc:
                    raise EngineFailure(f"engine error: {exc} for {json.dumps(message)[:200]}") from None
                if not self._fired:
                    break
                k = self._fired[0]
                out.append(slots[k])
                after = k
        return out

    def classify(self, messages: Sequence[dict[str, Any]]) -> list[list[int]]:
        return [self.classify_one(m) for m in messages]
