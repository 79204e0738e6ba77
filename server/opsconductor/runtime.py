"""The running server's parts, built once and started/stopped together.

:class:`Runtime` owns the database, metrics, pipeline and every background task
(event processor, housekeeping, and — as later stages plug in — the rules
engine, the poller and the delivery worker). The web app and the CLI both build
one; nothing starts at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from opsconductor.config.settings import Settings
from opsconductor.errors import Unavailable
from opsconductor.metrics import Metrics
from opsconductor.pipeline import Pipeline
from opsconductor.store.db import Database

log = logging.getLogger(__name__)

Hook = Callable[["Runtime"], Awaitable[None]]


@dataclass
class Runtime:
    """Everything a request handler or background job may need, passed explicitly."""

    settings: Settings
    db: Database
    metrics: Metrics
    pipeline: Pipeline
    # Later stages register themselves here (rules engine, poller, notifier...).
    components: dict[str, Any] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _on_start: list[Hook] = field(default_factory=list)
    _on_stop: list[Hook] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        db = Database(settings.effective_database_url, timeout_s=settings.db_timeout_s,
                      statement_timeout_s=settings.db_statement_timeout_s)
        metrics = Metrics()
        pipeline = Pipeline(
            db,
            metrics=metrics,
            default_timeout=settings.alert_timeout_s,
            batch_size=settings.process_batch_size,
            max_future_skew_s=settings.max_future_skew_s,
        )
        rt = cls(settings=settings, db=db, metrics=metrics, pipeline=pipeline)
        from opsconductor.plugins import install_components

        install_components(rt)
        return rt

    def on_start(self, hook: Hook) -> None:
        self._on_start.append(hook)

    def on_stop(self, hook: Hook) -> None:
        self._on_stop.append(hook)

    def spawn(self, coro_fn: Callable[[], Awaitable[None]], name: str) -> None:
        """Run a background loop for the life of the runtime; a crash is logged, then restarted."""

        async def supervised() -> None:
            while True:
                try:
                    await coro_fn()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("background task %s failed; restarting in 1s", name)
                    await asyncio.sleep(1.0)

        self._tasks.append(asyncio.create_task(supervised(), name=name))

    async def start(self) -> None:
        from opsconductor.store.housekeeping import housekeeping_loop

        for hook in self._on_start:
            await hook(self)
        self.pipeline.start()
        self.spawn(lambda: housekeeping_loop(self), "housekeeping")

    async def stop(self) -> None:
        await self.pipeline.stop()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        for hook in reversed(self._on_stop):
            with contextlib.suppress(Exception):
                await hook(self)
        await self.db.dispose()

    async def check_ready(self) -> None:
        """Raise Unavailable unless the database answers and migrations are current."""
        from opsconductor.store.migrate import current_revision, head_revision

        async with self.db.read() as conn:
            current = await current_revision(conn)
        head = head_revision(self.settings.effective_database_url)
        if current != head:
            raise Unavailable(f"database schema at {current}, expected {head}: run `opsconductor db upgrade`")
