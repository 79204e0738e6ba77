"""Polling helpers for tests that wait on a running server (bounded, never sleep-and-hope)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx


async def wait_for(check: Callable[[], Awaitable[Any]], timeout: float = 15.0, what: str = "condition") -> Any:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


async def alerts(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/alerts", params={"limit": 1000, **params})
    r.raise_for_status()
    return list(r.json()["alerts"])
