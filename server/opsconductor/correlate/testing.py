"""``rules test``: run the ``tests:`` of rule files through the REAL pipeline.

Each test gets a fresh migrated SQLite file and a Pipeline with a fake clock and
the rules correlator, so a test exercises exactly the production code path:
event log -> correlate -> lifecycle -> alert table, plus the re-evaluation job
at every checkpoint. Expected alerts are compared as a multiset (each expected
alert must match one actual alert on the keys it names; no actual alert may be
left over), and a failure prints a readable diff.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from opsconductor.correlate.compiled import CompiledRuleSet
from opsconductor.correlate.correlator import RulesCorrelator
from opsconductor.correlate.heartbeats import expire
from opsconductor.correlate.redecide import RulesSuppression
from opsconductor.correlate.rules import RuleTest
from opsconductor.correlate.topology import graph_of
from opsconductor.metrics import Metrics
from opsconductor.model.event import NormalizedEvent
from opsconductor.pipeline import Pipeline, build_pipeline
from opsconductor.store.alert_writer import ALERTS
from opsconductor.store.db import Database

DEFAULT_START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # a Monday, noon UTC
SHOWN = ("resource", "event", "component", "status", "severity", "duplicate_count", "suppressed_reason", "parent")


@dataclass
class RuleTestResult:
    test: RuleTest
    ok: bool
    problems: list[str] = field(default_factory=list)

    def report(self) -> str:
        head = f"{self.test.where}: test {self.test.name!r} {'passed' if self.ok else 'FAILED'}"
        return "\n".join([head, *("    " + line for p in self.problems for line in p.splitlines())])


class FakeClock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def _matches(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    for k, v in expected.items():
        a = actual.get(k)
        if k == "labels":
            if not isinstance(v, dict) or not isinstance(a, dict) or any(a.get(lk) != lv for lk, lv in v.items()):
                return False
        elif k == "suppressed_reason" and isinstance(v, str) and isinstance(a, str):
            if v not in a:  # a substring, so tests need not repeat counts and comments
                return False
        elif a != v:
            return False
    return True


def _show(d: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {d[k]!r}" for k in SHOWN if d.get(k) is not None) + "}"


def compare_alerts(expected: tuple[dict[str, Any], ...], actual: list[dict[str, Any]]) -> list[str]:
    """Readable differences between expected alerts and the alert table; empty when equal."""
    by_id = {a.get("id"): a for a in actual}
    actual = [{**a, "parent": f"{p['event']} on {p['resource']}"} if (p := by_id.get(a.get("parent_id"))) else a
              for a in actual]  # `parent: site_isolated on ams` names a child's parent
    left = list(actual)
    missing = []
    for exp in expected:
        hit = next((a for a in left if _matches(exp, a)), None)
        if hit is None:
            missing.append(exp)
        else:
            left.remove(hit)
    if not missing and not left:
        return []
    lines = ["alerts differ:"]
    lines += [f"  - expected, not found: {e}" for e in missing]
    lines += [f"  + found, not expected: {_show(a)}" for a in left]
    lines.append("  actual alert table:")
    lines += [f"    {_show(a)}" for a in actual] or ["    (empty)"]
    return ["\n".join(lines)]


class RuleTestRunner:
    """Runs rule tests; migrates one template database and copies it per test."""

    def __init__(self, compiled: CompiledRuleSet):
        self.compiled = compiled
        self._dir = Path(tempfile.mkdtemp(prefix="opsconductor-rules-test-"))
        self._template: Path | None = None

    async def _fresh_db(self, n: int) -> Database:
        if self._template is None:
            self._template = self._dir / "template.db"
            alembic_log = logging.getLogger("alembic")
            level = alembic_log.level
            alembic_log.setLevel(logging.WARNING)  # migration chatter is noise in test output
            try:
                from opsconductor.store.migrate import upgrade

                await upgrade(f"sqlite+aiosqlite:///{self._template}")
            finally:
                alembic_log.setLevel(level)
        path = self._dir / f"test{n}.db"
        shutil.copyfile(self._template, path)
        return Database(f"sqlite+aiosqlite:///{path}", scratch=True)  # throwaway: no fsync, no driver thread

    async def run(self, tests: list[RuleTest]) -> list[RuleTestResult]:
        try:
            return [await self.run_one(t, i) for i, t in enumerate(tests)]
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

    async def run_one(self, test: RuleTest, n: int = 0) -> RuleTestResult:
        try:
            start = datetime.fromisoformat(test.start.replace("Z", "+00:00")) if test.start else DEFAULT_START
        except ValueError:
            return RuleTestResult(test, False, [f"start {test.start!r} is not an RFC 3339 time"])
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        events: list[tuple[float, NormalizedEvent | None]] = []
        problems: list[str] = []
        for step in test.steps:
            if step.event is None:
                events.append((step.at, None))
                continue
            try:
                events.append((step.at, NormalizedEvent.model_validate(step.event)))
            except ValidationError as exc:
                problems.append(f"{step.where}: invalid event: {exc.errors()[0]['msg']} "
                                f"({'.'.join(str(x) for x in exc.errors()[0]['loc'])})")
        if problems:
            return RuleTestResult(test, False, problems)
        db = await self._fresh_db(n)
        clock = FakeClock(start)
        correlator = RulesCorrelator(self.compiled, clock)
        targets = {t["name"]: SimpleNamespace(**t) for t in test.targets}
        graph = graph_of(targets.values())
        correlator.topology_graph = lambda: graph
        correlator.inventory = lambda: targets
        suppression = RulesSuppression(correlator)  # incremental passes, as in production
        pipeline = build_pipeline(db, metrics=Metrics(), correlator=correlator, suppression=suppression, clock=clock)
        try:
            pending = sorted(events, key=lambda x: x[0])
            last = pending[-1][0] if pending else 0.0
            for exp in sorted(test.expects, key=lambda e: last if e.at is None else e.at):
                at = last if exp.at is None else exp.at
                while pending and pending[0][0] <= at:
                    t, ev = pending.pop(0)
                    await self._advance(pipeline, suppression, clock, start + timedelta(seconds=t))
                    if ev is not None:
                        await pipeline.accept([ev.model_copy(update={"occurred_at": clock.now})
                                               if ev.occurred_at is None else ev])
                        await pipeline.drain()
                await self._advance(pipeline, suppression, clock, start + timedelta(seconds=at))
                async with db.read() as conn:
                    rows = [dict(r) for r in (await conn.execute(select(ALERTS).order_by(ALERTS.c.id))).mappings()]
                for p in compare_alerts(exp.alerts, rows):
                    problems.append(f"{exp.where}: at {at:g}s: {p}")
        finally:
            await db.dispose()
        return RuleTestResult(test, not problems, problems)

    async def _advance(self, pipeline: Pipeline, suppression: RulesSuppression, clock: FakeClock,
                       to: datetime) -> None:
        """Move the clock forward, running the re-evaluation pass as production would."""
        if to > clock.now:
            clock.now = to
        await pipeline.drain()
        async with pipeline.db.write() as conn:
            await expire(conn, clock.now)  # heartbeats past their deadline, as the server's loop does
        await pipeline.drain()
        await suppression.run_pass(pipeline.store)
        await pipeline.drain()  # parents raised or cleared by the correlation
