"""Two servers on one database (PostgreSQL, or one SQLite file with ``workers: 2``) share the outbox:
every notification goes out exactly once. Two runtimes in one process have two engines: to the
database they are two processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opsconductor.model.event import NormalizedEvent, Severity
from opsconductor.plugins import build_runtime
from tests.notify.conftest import eventually
from tests.notify.support import WebhookSink, serving


async def test_two_workers_claim_each_row_once(settings_factory: Any, db_url: str, tmp_path: Path) -> None:
    async with serving(WebhookSink()) as sink:
        cfg = tmp_path / "notify.yaml"
        cfg.write_text(f'receivers:\n  hook: {{kind: webhook, url: "{sink.url}/h", concurrency: 4}}\n'
                       'route:\n  receiver: hook\n  group_by: ["..."]\n  group_wait: 0s\n  group_interval: 0s\n')
        runtimes = [build_runtime(settings_factory(notify_file=cfg, notify_poll_s=0.01, workers=2)) for _ in range(2)]
        for rt in runtimes:
            await rt.start()
        try:
            await runtimes[0].pipeline.accept(
                [NormalizedEvent(resource=f"r{i}", event="down", severity=Severity.major) for i in range(300)])
            await eventually(lambda: len(sink.requests) >= 300, within=30)
            workers = [rt.notify_worker for rt in runtimes]
            await eventually(lambda: all(not w.inflight.get("hook") for w in workers))
        finally:
            for rt in runtimes:
                await rt.stop()
    keys = [r.headers["idempotency-key"] for r in sink.requests]
    assert len(keys) == 300 and len(set(keys)) == 300  # nobody sent a row twice
    assert all(w.service.metrics.sent.labels(receiver="hook")._value.get() > 0 for w in workers)  # both worked
