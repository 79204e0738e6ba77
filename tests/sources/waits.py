"""Polling helpers for tests that wait on a running server (bounded, never sleep-and-hope)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.support.poll import eventually


async def wait_for(check: Callable[[], Awaitable[Any]], timeout: float = 15.0, what: str = "condition") -> Any:  # noqa: ASYNC109
    """:func:`tests.support.poll.eventually` under the name these tests use."""
    return await eventually(check, within=timeout, what=what, every=0.1)


async def alerts(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/alerts", params={"limit": 1000, **params})
    r.raise_for_status()
    return list(r.json()["alerts"])
