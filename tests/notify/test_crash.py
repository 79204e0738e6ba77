"""kill -9 of a real `opsconductor serve` in the middle of deliveries: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.notify.support import JiraFake, WebhookSink, serving
from tests.support.process import ServerProcess

pytestmark = pytest.mark.faults

CONFIG = """
receivers:
  hook: {{kind: webhook, url: "{hook}/h"}}
  tickets: {{kind: jira, url: "{jira}", user: bot@example.com, token: jira-token, project: NET}}
route:
  receiver: hook
  group_by: ["..."]
  group_wait: 0s
  group_interval: 0s
  routes:
    - receiver: tickets
      continue: true
    - receiver: hook
"""


async def notifications(server: ServerProcess, key: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as c:
        rows: list[dict[str, Any]] = (await c.get("/api/v1/notifications")).json()["notifications"]
        return rows


async def test_kill_9_mid_delivery_delivers_once(tmp_path: Path) -> None:
    hook, jira = WebhookSink(), JiraFake()
    hook.hang_after_accept = 1  # the first delivery arrives, the server dies before the answer
    jira.hang_after_create = 1  # the issue is created, the server dies before storing its key
    async with serving(hook), serving(jira):
        notify_file = tmp_path / "notify.yaml"
        notify_file.write_text(CONFIG.format(hook=hook.url, jira=jira.url))
        server = ServerProcess(tmp_path / "srv", env={
            "OPSCONDUCTOR_NOTIFY_FILE": str(notify_file), "OPSCONDUCTOR_NOTIFY_RETRY_BASE_S": "0.05"})
        try:
            await asyncio.to_thread(server.start)
            key = server.admin_key
            async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as c:
                r = await c.post("/api/v1/events", json=[{"resource": "rtr1", "event": "down", "severity": "major"}])
                assert r.status_code == 202, r.text
            await hook.wait_for(1, within=20)
            await jira.wait_for(2, within=20)  # search, create
            assert {n["status"] for n in await notifications(server, key)} == {"sending"}
            await asyncio.to_thread(server.kill9)
            await asyncio.to_thread(server.start)

            async def settled() -> list[dict[str, Any]]:
                for _ in range(500):
                    rows = await notifications(server, key)
                    if rows and all(n["status"] == "sent" for n in rows):
                        return rows
                    await asyncio.sleep(0.05)
                raise AssertionError(f"not delivered after restart: {rows}")

            rows = await settled()
        finally:
            await asyncio.to_thread(server.stop)
    assert sorted(n["receiver"] for n in rows) == ["hook", "tickets"]
    assert len(hook.requests) == 2 and len(hook.accepted) == 1  # redelivered with the same idempotency key
    assert list(jira.issues) == ["NET-1"]  # the retry found the issue instead of opening a second one
