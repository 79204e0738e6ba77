"""Helpers of the never-silent tests: poll for a condition; read self-alerts from the alert table."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from opsconductor.store.alert_writer import ALERTS
from tests.support.server import LiveServer


async def eventually(check: Callable[[], Any], within: float = 15.0) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def self_alerts(server: LiveServer) -> dict[tuple[str, str], dict[str, Any]]:
    """Every alert with source opsconductor, newest row per (resource, event)."""
    async with server.runtime.db.read() as conn:
        rows = (await conn.execute(select(ALERTS).where(ALERTS.c.source == "opsconductor")
                                   .order_by(ALERTS.c.id))).mappings().all()
    return {(r["resource"], r["event"]): dict(r) for r in rows}


async def self_alert_status(server: LiveServer, resource: str, event: str) -> str | None:
    row = (await self_alerts(server)).get((resource, event))
    return None if row is None else str(row["status"])
