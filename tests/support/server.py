"""Run the real application on a loopback port inside the test's event loop."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import uvicorn

from opsconductor.api.app import create_app
from opsconductor.config.settings import Settings
from opsconductor.plugins import build_runtime
from opsconductor.runtime import Runtime
from opsconductor.store.api_keys import Scope, create_key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    runtime: Runtime
    admin_key: str
    write_key: str
    read_key: str

    def client(self, key: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30.0)

    @property
    def admin(self) -> httpx.AsyncClient:
        return self.client(self.admin_key)


@asynccontextmanager
async def start_live_server(settings: Settings, *, runtime: Runtime | None = None) -> AsyncIterator[LiveServer]:
    rt = runtime or build_runtime(settings)
    now = datetime.now(UTC)
    async with rt.db.write() as conn:
        tag = uuid.uuid4().hex[:6]
        keys = {s: await create_key(conn, f"test-{s.value}-{tag}", s, now) for s in Scope}
    port = free_port()
    config = uvicorn.Config(create_app(settings, runtime=rt), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    # Start-up (rules compiled, leader elected, listeners bound) can take several seconds on a
    # loaded 2-core machine (parallel test workers): wait for it, never hand out a dead URL.
    for _ in range(3_000):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    else:
        server.should_exit = True
        raise RuntimeError("the live server did not start within 60 s")
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", rt, keys[Scope.admin], keys[Scope.write], keys[Scope.read])
    finally:
        server.should_exit = True
        await task
