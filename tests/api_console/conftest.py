"""A live server with the shipped rules (correlation parents need them) and console helpers."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import LiveServer, start_live_server

SHIPPED = Path(__file__).parents[2] / "rules"


@pytest.fixture
async def console_server(settings_factory, tmp_path: Path) -> AsyncIterator[LiveServer]:  # type: ignore[no-untyped-def]
    rules = tmp_path / "rules"
    rules.mkdir()
    for f in SHIPPED.glob("*.yaml"):
        if f.name != "notify.yaml":
            shutil.copy(f, rules / f.name)
    settings = settings_factory(rules_dir=rules, rules_reevaluate_interval_s=0.2, rules_watch=False)
    async with start_live_server(settings) as server:
        await _answering(server)
        yield server


async def _answering(server: LiveServer, within: float = 30.0) -> None:
    """The shared helper waits 4 s for start-up; a loaded CI machine may need longer."""
    deadline = asyncio.get_running_loop().time() + within
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as c:
        while True:
            try:
                if (await c.get("/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
            await asyncio.sleep(0.05)


async def send(server: LiveServer, *events: dict[str, Any]) -> list[dict[str, Any]]:
    async with server.admin as c:
        r = await c.post("/api/v1/events", params={"wait": "true"}, json=list(events))
        assert r.status_code == 200, r.text
        return list(r.json()["results"])


async def signed_in(server: LiveServer, key: str) -> tuple[httpx.AsyncClient, str]:
    """A cookie-only client (no Authorization header) and the page's CSRF token."""
    c = httpx.AsyncClient(base_url=server.url, timeout=30.0)
    r = await c.post("/login", data={"key": key, "next": "/"})
    assert r.status_code == 303, r.text
    page = await c.get("/")
    m = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page.text)
    assert m, page.text[:500]
    return c, m.group(1)
