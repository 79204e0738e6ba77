"""Fixtures of the notify tests: a live server with a given notify.yaml."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.poll import eventually
from tests.support.server import LiveServer, start_live_server

NotifyServer = Callable[..., AbstractAsyncContextManager[LiveServer]]


@pytest.fixture
def notify_server(settings_factory: Any, tmp_path: Path) -> NotifyServer:
    @asynccontextmanager
    async def start(yaml_text: str, **overrides: Any) -> AsyncIterator[LiveServer]:
        path = tmp_path / "notify.yaml"
        path.write_text(yaml_text)
        base: dict[str, Any] = {"notify_file": path, "notify_retry_base_s": 0.05, "notify_poll_s": 0.02}
        base.update(overrides)
        async with start_live_server(settings_factory(**base)) as server:
            yield server

    return start

__all__ = ["eventually"]
