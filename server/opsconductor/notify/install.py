"""Attach the notify stage to a runtime: the outbox sink, the service, the delivery worker, the CLI."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from opsconductor.config.settings import Settings
from opsconductor.metrics import Metrics
from opsconductor.notify.config import load_config
from opsconductor.notify.metrics import NotifyMetrics
from opsconductor.notify.outbox import NotifySink
from opsconductor.notify.service import NotifyService
from opsconductor.notify.worker import Worker
from opsconductor.store.db import Database

if TYPE_CHECKING:
    from opsconductor.runtime import Runtime

log = logging.getLogger(__name__)


def quiet_http_loggers() -> None:
    """httpx logs every request URL at INFO and httpcore request details at DEBUG; both carry secrets (an
    incoming-webhook URL *is* the credential, pollers put tokens in queries). Their own level stays at
    WARNING whatever the root level is (``OPSCONDUCTOR_LOG_LEVEL=debug`` included)."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


@dataclass(frozen=True)
class NotifyStage:
    service: NotifyService
    sink: NotifySink  # the pipeline's transition sink (the store hands it every transition)
    worker: Worker


def build(s: Settings, metrics: Metrics, db: Database, clock: Callable[[], datetime]) -> NotifyStage:
    """Load the notify file (``effective_notify_file``); a broken file stops the server with file:line:col."""
    quiet_http_loggers()
    notify_file = s.effective_notify_file
    if not notify_file.exists():
        log.warning("notify file %s not found: no notifications will be sent", notify_file)
    service = NotifyService(load_config(notify_file), NotifyMetrics(metrics.registry), public_url=s.public_url,
                            path=notify_file, credentials_dir=s.effective_credentials_dir)
    service.reload_if_changed()  # remember the file's mtime
    sink = NotifySink(lambda: service.config, service.enabled, clock, service.wake)
    worker = Worker(db, service, clock, poll_s=s.notify_poll_s,
                    retry_base_s=s.notify_retry_base_s, retry_cap_s=s.notify_retry_max_s,
                    retention_s=s.notify_retention_days * 86_400, shutdown_grace_s=s.notify_shutdown_grace_s,
                    probe_s=s.notify_probe_s, shared=not db.is_sqlite or s.workers > 1)
    return NotifyStage(service, sink, worker)


def install(rt: Runtime) -> None:
    """Run the delivery worker for the life of the runtime."""
    worker = rt.notify_worker
    if worker is None:
        return

    async def start(runtime: Runtime) -> None:
        runtime.spawn(worker.run, "notify-worker")

    rt.on_start(start)
