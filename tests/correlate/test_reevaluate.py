"""The incremental, paged re-evaluation: it looks only where an answer can have changed,
and still ends and starts every suppression the full sweep would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from opsconductor.correlate.compiled import CompiledRuleSet
from opsconductor.correlate.correlator import RulesCorrelator
from opsconductor.correlate.loader import load_ruleset
from opsconductor.correlate.reevaluate import Reevaluator
from opsconductor.correlate.state import SILENCES
from opsconductor.correlate.testing import FakeClock
from opsconductor.correlate.worker import InProcessEngine
from opsconductor.metrics import Metrics
from opsconductor.model.alert import Action
from opsconductor.model.event import NormalizedEvent, Severity
from opsconductor.pipeline import Pipeline, build_pipeline
from opsconductor.store.alert_writer import ALERTS, NoSink, apply_action
from opsconductor.store.db import Database

RULES = """\
rules:
  - id: device-hides-links
    inhibit: {source: {event: device_down}, target: {event: link_down}, equal: [resource]}
  - id: link-flap
    when: {event: link_down}
    flap: {changes: 2, within: 5m}
"""
START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # a Monday


@dataclass
class Env:
    pipeline: Pipeline
    clock: FakeClock
    correlator: RulesCorrelator

    async def send(self, *events: NormalizedEvent) -> None:
        await self.pipeline.accept(list(events))
        await self.pipeline.drain()

    async def run(self, r: Reevaluator) -> int:
        changed = None
        while changed is None:
            async with self.pipeline.db.write() as conn:
                changed = await r.step(conn, self.correlator, self.clock.now, NoSink())
        return changed

    async def statuses(self) -> dict[tuple[str, str], tuple[str, str | None]]:
        async with self.pipeline.db.read() as conn:
            rows = (await conn.execute(select(ALERTS).where(ALERTS.c.status != "resolved"))).mappings().all()
        return {(r["resource"], r["event"]): (r["status"], r["suppressed_reason"]) for r in rows}


@pytest.fixture
async def env(db_url: str, tmp_path: Path) -> AsyncIterator[Env]:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "rules.yaml").write_text(RULES)
    rs, errors = load_ruleset([tmp_path / "r"])
    assert not errors
    compiled = CompiledRuleSet(rs)
    compiled.engine = InProcessEngine(compiled.matchers.spec)
    clock = FakeClock(START)
    correlator = RulesCorrelator(compiled, clock)
    db = Database(db_url)
    try:
        yield Env(build_pipeline(db, metrics=Metrics(), correlator=correlator, clock=clock), clock, correlator)
    finally:
        await db.dispose()


def link(resource: str, sev: Severity = Severity.major) -> NormalizedEvent:
    return NormalizedEvent(resource=resource, event="link_down", component="ge-0/0/1", severity=sev)


def device(resource: str, sev: Severity = Severity.critical) -> NormalizedEvent:
    return NormalizedEvent(resource=resource, event="device_down", severity=sev)


async def test_an_inhibitor_that_arrives_or_leaves_is_handled_without_a_full_sweep(env: Env) -> None:
    await env.send(*(link(f"sw{i}") for i in range(30)))
    r = Reevaluator(page=7)
    assert await env.run(r) == 0 and r.last_full and r.last_candidates == 30  # first pass: everything
    await env.run(r)
    assert not r.last_full and r.last_candidates == 0  # nothing happened: nothing looked at

    await env.send(device("sw3"))  # the links of sw3 were open before their inhibitor
    assert await env.run(r) == 1
    assert not r.last_full and r.last_candidates == 1  # sw3's link (the device is no inhibit target)
    st = await env.statuses()
    assert st[("sw3", "link_down")] == ("suppressed", "inhibited by device_down on sw3 (rule device-hides-links)")
    assert st[("sw4", "link_down")] == ("active", None)

    await env.send(device("sw3", Severity.clear))  # the inhibitor resolves: its link comes back
    assert await env.run(r) == 1
    assert not r.last_full and r.last_candidates == 1
    assert (await env.statuses())[("sw3", "link_down")] == ("active", None)


async def test_a_silence_that_starts_and_ends_reaches_every_page(env: Env) -> None:
    await env.send(*(link(f"sw{i}") for i in range(23)))
    r = Reevaluator(page=5)
    await env.run(r)
    async with env.pipeline.db.write() as conn:  # starts in a minute, ends in two
        await conn.execute(insert(SILENCES).values(
            matchers={"event": "link_down"}, starts_at=START + timedelta(minutes=1),
            ends_at=START + timedelta(minutes=2), comment="swap", created_by="t", created_at=START))
    assert await env.run(r) == 0 and not r.last_full  # not started yet: the world is the same
    env.clock.now = START + timedelta(seconds=90)
    assert await env.run(r) == 23 and r.last_full
    assert {v for v in (await env.statuses()).values()} == {("suppressed", "silence 1: swap")}
    env.clock.now = START + timedelta(minutes=3)
    assert await env.run(r) == 23 and r.last_full
    assert {v for v in (await env.statuses()).values()} == {("active", None)}


async def test_flapping_ends_when_changes_age_out_and_unrelated_alerts_are_not_read(env: Env) -> None:
    await env.send(*(link(f"sw{i}") for i in range(10)))
    for sev in (Severity.clear, Severity.major, Severity.clear, Severity.major):
        await env.send(link("sw0", sev))
    r = Reevaluator()
    await env.run(r)
    assert (await env.statuses())[("sw0", "link_down")][0] == "suppressed"
    env.clock.now = START + timedelta(minutes=10)  # the changes leave the 5 minute window
    assert await env.run(r) == 1
    assert not r.last_full and r.last_candidates == 1  # only the flapping alert was read
    assert (await env.statuses())[("sw0", "link_down")] == ("active", None)


async def test_the_backstop_sweeps_everything_every_full_every_passes(env: Env) -> None:
    await env.send(link("sw1"))
    r = Reevaluator(full_every=3)
    fulls = []
    for _ in range(6):
        await env.run(r)
        fulls.append(r.last_full)
    assert fulls == [True, False, True, False, False, True]


async def test_an_alert_acknowledged_through_a_silence_start_is_decided_again_once_unacknowledged(env: Env) -> None:
    await env.send(link("sw1"), link("sw2"))
    r = Reevaluator()
    await env.run(r)
    async with env.pipeline.db.write() as conn:
        sw1 = (await conn.execute(select(ALERTS.c.id).where(ALERTS.c.resource == "sw1"))).scalar_one()
        await apply_action(conn, [sw1], Action.ack, actor="t", now=START, text=None, sink=NoSink())
        await conn.execute(insert(SILENCES).values(
            matchers={"event": "link_down"}, starts_at=START, ends_at=START + timedelta(hours=1),
            comment="swap", created_by="t", created_at=START))
    assert await env.run(r) == 1 and r.last_full  # sw2; the acknowledged sw1 keeps its status
    assert (await env.statuses())[("sw1", "link_down")] == ("acknowledged", None)
    async with env.pipeline.db.write() as conn:
        await apply_action(conn, [sw1], Action.unack, actor="t", now=START, text=None, sink=NoSink())
    assert await env.run(r) == 1 and not r.last_full and r.last_candidates == 1
    assert (await env.statuses())[("sw1", "link_down")] == ("suppressed", "silence 1: swap")


def test_a_stored_row_read_as_an_event_equals_the_validated_event() -> None:
    from opsconductor.correlate.suppress import row_event

    for row in ({"resource": "sw1", "event": "link_down", "component": "ge-0/0/1", "severity": "major",
                 "summary": "down", "value": 3.5, "labels": {"site": "ams"}, "source": "snmp"},
                {"resource": "sw1", "event": "x", "component": None, "severity": None, "summary": None,
                 "value": None, "labels": None, "source": None}):
        expected = NormalizedEvent(**{**row, "labels": row["labels"] or {}})
        assert row_event(row) == expected and row_event(row).model_dump() == expected.model_dump()
