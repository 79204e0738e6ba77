"""Attach the rules correlator to a Runtime (called from ``plugins.install_components``).

Installs the correlator as ``rt.pipeline.correlator``, loads the rules on start,
and runs three background loops: the file watcher (hot reload), the periodic
re-evaluation of suppressions, and — via SIGHUP — reload on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING

from sqlalchemy import text

from opsconductor.correlate.compiled import CompiledRuleSet
from opsconductor.correlate.correlator import RulesCorrelator
from opsconductor.correlate.heartbeats import expire
from opsconductor.correlate.reevaluate import Reevaluator
from opsconductor.correlate.rules import RuleSet
from opsconductor.correlate.service import RulesService
from opsconductor.correlate.topology import graph_of
from opsconductor.correlate.worker import InProcessEngine
from opsconductor.pipeline import PROCESSOR_LOCK_KEY

if TYPE_CHECKING:
    from opsconductor.runtime import Runtime

log = logging.getLogger(__name__)


def empty_compiled() -> CompiledRuleSet:
    compiled = CompiledRuleSet(RuleSet((), "empty"))
    compiled.engine = InProcessEngine(compiled.matchers.spec)
    return compiled


def install(rt: Runtime) -> None:
    s = rt.settings
    correlator = RulesCorrelator(empty_compiled(), lambda: rt.pipeline.clock())
    rt.pipeline.correlator = correlator
    service = RulesService(s.rules_dir, correlator, rt.metrics, use_worker=s.rules_engine_worker,
                           run_tests=s.rules_test_on_reload)
    rt.components["rules"] = service
    rt.components["rules-reevaluator"] = Reevaluator()

    async def reevaluate_loop() -> None:
        while True:
            await asyncio.sleep(s.rules_reevaluate_interval_s)
            await reevaluate_now(rt)

    async def heartbeat_loop() -> None:
        while True:
            await asyncio.sleep(s.heartbeat_check_interval_s)
            await expire_heartbeats_now(rt)

    async def watch_loop() -> None:
        import watchfiles

        async for _changes in watchfiles.awatch(s.rules_dir, debounce=300, recursive=True):
            await service.reload()

    async def start(rt: Runtime) -> None:
        sources = rt.components.get("sources")  # installed after us; its targets carry depends_on
        if sources is not None:
            correlator.topology_graph = lambda: graph_of(sources.targets())
            correlator.inventory = lambda: {t.name: t for t in sources.targets()}
        await service.reload()
        rt.spawn(reevaluate_loop, "rules-reevaluate")
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
    """One re-evaluation pass (also used by tests and after silence changes); returns how many
    alerts changed. Incremental (see ``reevaluate.py``), one transaction per page of alerts."""
    correlator = rt.pipeline.correlator
    if not isinstance(correlator, RulesCorrelator):
        return 0
    reevaluator = rt.components.setdefault("rules-reevaluator", Reevaluator())
    assert isinstance(reevaluator, Reevaluator)
    async with reevaluator.lock:  # the loop and the API may both ask; one pass at a time
        while True:
            async with rt.db.write() as conn:
                if conn.dialect.name == "postgresql":
                    # the batch processor's lock: never change an alert while a batch (here or in
                    # another server process) is changing it
                    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PROCESSOR_LOCK_KEY})
                changed = await reevaluator.step(conn, correlator, rt.pipeline.clock(), rt.pipeline.sink)
            if changed is not None:
                return changed
