"""The running rule set: load, check, test, compile, start an engine, swap — or keep the old one.

A reload (file change, ``POST /api/v1/rules/reload``, SIGHUP) goes live only if
the files parse, pass the semantic checks and their ``tests:`` pass. Otherwise the
running set stays in force and the failure is visible in ``/api/v1/rules/status``,
the log and ``opsconductor_rules_reloads_total{result="failed"}``. The swap is one
attribute assignment between batches' reads (each batch uses one rule set), so no
event is lost or evaluated twice during a reload.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge

from opsconductor.correlate.compiled import Classifier, CompiledRuleSet
from opsconductor.correlate.correlator import RulesCorrelator
from opsconductor.correlate.guard import truncation_errors
from opsconductor.correlate.loader import ParseCache, load_ruleset
from opsconductor.correlate.rules import RuleSet
from opsconductor.correlate.testing import RuleTestRunner
from opsconductor.correlate.worker import EngineWorker, InProcessEngine, WorkerProcess
from opsconductor.errors import ConfigError, OpsConductorError
from opsconductor.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass
class ReloadStatus:
    ok: bool
    version: str | None
    at: datetime
    rules: int = 0
    errors: list[str] = field(default_factory=list)
    test_failures: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "version": self.version, "at": self.at.isoformat().replace("+00:00", "Z"),
                "rules": self.rules, "errors": self.errors, "test_failures": self.test_failures,
                "duration_s": round(self.duration_s, 4)}


def compile_ruleset(rs: RuleSet, engine: Callable[[CompiledRuleSet], Classifier] | None = None) -> CompiledRuleSet:
    compiled = CompiledRuleSet(rs)
    compiled.engine = (engine or (lambda c: InProcessEngine(c.matchers.spec)))(compiled)
    return compiled


async def check_and_test(paths: Sequence[Path], *, run_tests: bool = True, cache: ParseCache | None = None
                         ) -> tuple[CompiledRuleSet | None, list[ConfigError], list[str]]:
    """Load + check + compile (in-process engine) + run the files' tests."""
    rs, errors = await asyncio.to_thread(lambda: load_ruleset(paths, cache=cache))
    if errors:
        return None, errors, []
    compiled = await asyncio.to_thread(compile_ruleset, rs)
    failures: list[str] = []
    if run_tests and rs.tests:
        results = await RuleTestRunner(compiled).run(list(rs.tests))
        failures = [r.report() for r in results if not r.ok]
    return compiled, [], failures


class RulesService:
    """Owns the live compiled rule set and its engine worker."""

    def __init__(self, rules_dir: Path, correlator: RulesCorrelator, metrics: Metrics, *,
                 use_worker: bool = True, run_tests: bool = True):
        self.rules_dir = rules_dir
        self.correlator = correlator
        self.use_worker = use_worker
        self.run_tests = run_tests
        self.status = ReloadStatus(True, correlator.version, datetime.now(UTC))
        self.last_good: ReloadStatus | None = None
        self._lock = asyncio.Lock()
        self._worker: Any = None
        self._parse_cache: ParseCache = {}
        self._spare: WorkerProcess | None = None
        r = metrics.registry
        self.reloads = Counter("opsconductor_rules_reloads", "Rule set reloads by result", ["result"], registry=r)
        self.version_info = Gauge("opsconductor_rules_info", "The live rule set (value 1)", ["version"], registry=r)
        self.rule_count = Gauge("opsconductor_rules", "Rules in the live rule set", registry=r)

    @property
    def worker_pid(self) -> int | None:
        w = self._worker
        return w.pid if isinstance(w, EngineWorker) else None

    async def reload(self) -> ReloadStatus:
        async with self._lock:
            started = time.perf_counter()
            now = datetime.now(UTC)
            try:
                paths = [self.rules_dir] if self.rules_dir.exists() else []  # no rules folder: no rules
                compiled, errors, failures = await check_and_test(paths, run_tests=self.run_tests,
                                                                  cache=self._parse_cache)
            except OpsConductorError as exc:
                compiled, errors, failures = None, [ConfigError(str(exc))], []
            if compiled is not None and (cut := truncation_errors(self.correlator.current.ruleset, compiled.ruleset,
                                                                  self.rules_dir)):
                compiled, errors = None, cut
            if compiled is None or failures:
                self.status = ReloadStatus(False, self.correlator.version, now,
                                           len(self.correlator.current.ruleset.rules),
                                           [str(e) for e in errors], failures, time.perf_counter() - started)
                self.reloads.labels(result="failed").inc()
                for line in [*self.status.errors, *failures]:
                    log.error("rules reload rejected, running set %s stays: %s", self.correlator.version, line)
                return self.status
            # No rules, no engine work: the in-process engine (no shards) answers without durable-rules.
            needs_worker = self.use_worker and bool(compiled.shards)
            if needs_worker:
                spare, self._spare = self._spare, None
                try:
                    worker = await asyncio.to_thread(EngineWorker, compiled.matchers.spec, spare)
                except OpsConductorError as exc:
                    self.status = ReloadStatus(False, self.correlator.version, now, 0, [str(exc)], [],
                                               time.perf_counter() - started)
                    self.reloads.labels(result="failed").inc()
                    log.error("rules reload rejected: %s", exc)
                    return self.status
                compiled.engine = worker
            old_worker, self._worker = self._worker, compiled.engine
            old_version = self.correlator.version
            self.correlator.current = compiled  # the swap: the next batch uses the new set
            if isinstance(old_worker, EngineWorker):
                await asyncio.to_thread(old_worker.close)
            self.version_info.remove(old_version) if old_version in self._versions() else None
            self.version_info.labels(version=compiled.version).set(1)
            self.rule_count.set(len(compiled.ruleset.rules))
            self.reloads.labels(result="ok").inc()
            self.status = ReloadStatus(True, compiled.version, now, len(compiled.ruleset.rules), [], [],
                                       time.perf_counter() - started)
            self.last_good = self.status
            log.info("rules %s live: %d rules from %s (%.3fs)", compiled.version, len(compiled.ruleset.rules),
                     self.rules_dir, self.status.duration_s)
            if needs_worker and self._spare is None:
                # the next reload swaps in a warm process instead of waiting for a Python start-up
                self._spare = await asyncio.to_thread(WorkerProcess)
            return self.status

    def _versions(self) -> set[str]:
        return {s.labels["version"] for m in self.version_info.collect() for s in m.samples}

    async def close(self) -> None:
        if self._spare is not None:
            await asyncio.to_thread(self._spare.discard)
            self._spare = None
        if isinstance(self._worker, EngineWorker):
            await asyncio.to_thread(self._worker.close)
        self._worker = None
