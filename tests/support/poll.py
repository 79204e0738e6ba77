"""The one polling helper: wait (bounded) until a condition holds, never sleep-and-hope."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(check: Callable[[], Any | Awaitable[Any]], within: float = 10.0, what: str = "condition",
                     *, every: float = 0.02) -> Any:
    """Poll ``check`` (sync or async) every ``every`` seconds until it returns something truthy;
    returns that. After ``within`` seconds: AssertionError naming ``what`` and the last answer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}; last: {result!r}")
        await asyncio.sleep(every)
