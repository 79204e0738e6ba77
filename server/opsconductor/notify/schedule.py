"""The retry schedule (pure): exponential backoff with jitter, capped, honouring Retry-After."""

from __future__ import annotations

import random


def backoff(attempt: int, *, base: float, cap: float, rng: random.Random, retry_after: float | None = None) -> float:
    """Seconds before retry number ``attempt`` (1-based).

    "Equal jitter": half of the exponential step is fixed, half random, so retries of many
    notifications spread out but never come sooner than half the step. A Retry-After from the
    receiver wins when it asks for longer (capped at 1 hour so a bad header cannot park a row).
    """
    step: float = min(cap, base * (2 ** max(0, attempt - 1)))
    delay: float = step / 2 + rng.uniform(0, step / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, 3600.0))
    return delay
