"""The running server's parts, built once and started/stopped together.

:class:`Runtime` holds the database, metrics, the composed pipeline and each stage's
service as a typed field (built by ``plugins.build_runtime``), and every background task
(event processor, housekeeping, and the loops the stages register). The web app and the
CLI both build one; nothing starts at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from opsconductor.config.settings import Settings
from opsconductor.errors import Unavailable
from opsconductor.metrics import Metrics
from opsconductor.pipeline import Pipeline
from opsconductor.store.alert_store import AlertStore
from opsconductor.store.db import Database

if TYPE_CHECKING:
    from opsconductor.correlate.redecide import RulesSuppression
    from opsconductor.correlate.service import RulesService
    from opsconductor.notify.service import NotifyService
    from opsconductor.notify.worker import Worker
    from opsconductor.sources.service import SourcesService
    from opsconductor.sources.snmp_trap_service import TrapService
    from opsconductor.sources.webhook_catalog import PushCatalog
    from opsconductor.sources.webhook_install import PushMetrics

log = logging.getLogger(__name__)

Hook = Callable[["Runtime"], Awaitable[None]]


@dataclass
class Runtime:
    """Everything a request handler or background job may need, passed explicitly."""

    settings: Settings
    db: Database
    metrics: Metrics
    pipeline: Pipeline
    # The stages' services (None: not installed in this runtime).
    rules: RulesService | None = None
    suppression: RulesSuppression | None = None
    notify: NotifyService | None = None
    notify_worker: Worker | None = None
    sources: SourcesService | None = None
    push: PushCatalog | None = None
    push_metrics: PushMetrics | None = None
    snmp_traps: TrapService | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _on_start: list[Hook] = field(default_factory=list)
    _on_stop: list[Hook] = field(default_factory=list)

    @property
    def store(self) -> AlertStore:
        """The alert store: the processing lock, the one writer, the transition sink."""
        return self.pipeline.store

    def on_start(self, hook: Hook) -> None:
        """Run ``hook`` at start, after the hooks registered before it (start order = install order)."""
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

        for hook in self._on_start:  # the stages, in install order (plugins.install_components)
            await hook(self)
        self.pipeline.start()  # then the processor: the rules are loaded, the sink is ready
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
