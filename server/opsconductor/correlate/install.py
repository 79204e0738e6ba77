"""The rules stage: built for the pipeline (:func:`build`), started with the runtime (:func:`install`).

:func:`build` makes the rules correlator, the suppression stage and the rules service
(the pipeline is composed from them in ``plugins.build_runtime``). :func:`install` loads
the rules on start and runs the background loops: the file watcher (hot reload), the
suppression stage's timer loop (silence/window boundaries, the periodic backstop) and,
via SIGHUP, reload on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from opsconductor.config.settings import Settings
from opsconductor.correlate.compiled import CompiledRuleSet
from opsconductor.correlate.correlator import RulesCorrelator
from opsconductor.correlate.guard import settled
from opsconductor.correlate.heartbeats import expire
from opsconductor.correlate.redecide import RulesSuppression
from opsconductor.correlate.rules import RuleSet
from opsconductor.correlate.service import RulesService
from opsconductor.correlate.topology import graph_of
from opsconductor.correlate.worker import InProcessEngine
from opsconductor.metrics import Metrics

if TYPE_CHECKING:
    from opsconductor.runtime import Runtime

log = logging.getLogger(__name__)


def empty_compiled() -> CompiledRuleSet:
    compiled = CompiledRuleSet(RuleSet((), "empty"))
    compiled.engine = InProcessEngine(compiled.matchers.spec)
    return compiled


@dataclass(frozen=True)
class RulesStage:
    correlator: RulesCorrelator
    suppression: RulesSuppression
    service: RulesService


def build(s: Settings, metrics: Metrics, clock: Callable[[], datetime]) -> RulesStage:
    correlator = RulesCorrelator(empty_compiled(), clock)
    service = RulesService(s.rules_dir, correlator, metrics, use_worker=s.rules_engine_worker,
                           run_tests=s.rules_test_on_reload)
    return RulesStage(correlator, RulesSuppression(correlator), service)


def install(rt: Runtime) -> None:
    s = rt.settings
    service, suppression = rt.rules, rt.suppression
    if service is None or suppression is None:
        return

    async def heartbeat_loop() -> None:
        while True:
            await asyncio.sleep(s.heartbeat_check_interval_s)
            await expire_heartbeats_now(rt)

    async def watch_loop() -> None:
        import watchfiles

        async for _changes in watchfiles.awatch(s.rules_dir, debounce=300, recursive=True):
            await settled(s.rules_dir, s.rules_settle_s)  # an editor or `cp` may still be writing
            await service.reload()

    async def start(rt: Runtime) -> None:
        sources, correlator = rt.sources, service.correlator  # sources: its targets carry depends_on
        if sources is not None:
            correlator.topology_graph = lambda: graph_of(sources.targets())
            correlator.inventory = lambda: {t.name: t for t in sources.targets()}
        await service.reload()
        rt.spawn(lambda: suppression.loop(rt.store, s.rules_reevaluate_interval_s), "rules-reevaluate")
        rt.spawn(heartbeat_loop, "heartbeats")
        if s.rules_watch and s.rules_dir.is_dir():
            rt.spawn(watch_loop, "rules-watch")
        # No SIGHUP where the loop cannot take signal handlers (not the main thread, e.g. the
        # in-process test server, or a platform without them); file watch and the API still reload.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGHUP, lambda: rt.spawn(lambda: _reload_once(service), "rules-sighup"))

    async def stop(rt: Runtime) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        await service.close()

    rt.on_start(start)
    rt.on_stop(stop)


async def _reload_once(service: RulesService) -> None:
    await service.reload()


async def expire_heartbeats_now(rt: Runtime) -> int:
    """Open heartbeat_missing for every heartbeat past its deadline (the loop; tests)."""
    async with rt.db.write() as conn:
        n = await expire(conn, rt.pipeline.clock())
    if n:
        rt.pipeline.wake()
    return n


async def reevaluate_now(rt: Runtime) -> int:
    """One re-evaluation pass (tests, and the silences API after a change); returns how many
    alerts changed. Incremental (see ``reevaluate.py``), one transaction per page of alerts."""
    if rt.suppression is None:
        return 0
    return await rt.suppression.run_pass(rt.store)
