"""One view for suppression: a new event, a re-check of the stored alert, ``explain`` and
``rules test`` all decide on the alert as it is stored, so they agree.

The property test generates rule sets (a severity mapping, a maintenance window, an
inhibit rule), API silences and event streams, runs them through the real pipeline on a
SQLite file, and checks at every step that

- ``explain`` (before the event) said exactly what the stored alert then shows;
- a full re-check right after changes nothing (no flip between event and re-check);
- ``rules test`` with the same rules and input expects exactly the server's alert table.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from opsconductor.correlate.correlator import RulesCorrelator
from opsconductor.correlate.loader import load_ruleset
from opsconductor.correlate.redecide import RulesSuppression
from opsconductor.correlate.reevaluate import reevaluate
from opsconductor.correlate.service import compile_ruleset
from opsconductor.correlate.state import SILENCES
from opsconductor.correlate.testing import FakeClock, RuleTestRunner
from opsconductor.metrics import Metrics
from opsconductor.model.alert import AlertStatus
from opsconductor.model.event import NormalizedEvent
from opsconductor.pipeline import build_pipeline
from opsconductor.store.alert_writer import ALERTS
from opsconductor.store.db import Database

START = datetime(2026, 1, 5, 11, 58, tzinfo=UTC)  # a Monday; windows below open at 12:00
SHOWN = ("resource", "event", "status", "severity", "suppressed_reason")


@pytest.fixture(scope="module")
def template() -> Iterator[Path]:
    from opsconductor.store.migrate import upgrade

    d = Path(tempfile.mkdtemp(prefix="one-view-"))
    asyncio.run(upgrade(f"sqlite+aiosqlite:///{d / 'template.db'}"))
    yield d / "template.db"
    shutil.rmtree(d, ignore_errors=True)


@dataclass(frozen=True)
class Case:
    rules: list[dict[str, Any]]
    silences: list[tuple[dict[str, Any], int, int]]  # matchers, starts at (s), ends at (s)
    steps: list[tuple[int, dict[str, Any]]]  # at (s), event


MATCHERS = st.sampled_from([{"severity": "critical"}, {"severity": "major"}, {"labels.site": "ams"},
                            {"labels.kind": "core"}, {"event": "link_down"}])


@st.composite
def cases(draw: Any) -> Case:
    rules: list[dict[str, Any]] = []
    if draw(st.booleans()):  # the stored severity differs from the one received
        rules.append({"id": "core-is-critical", "when": {"labels.kind": "core"}, "set": {"severity": "critical"}})
    if draw(st.booleans()):
        frm, to = draw(st.sampled_from([("12:00", "12:03"), ("11:00", "12:02"), ("12:04", "13:00")]))
        rules.append({"id": "window", "maintenance": {"when": draw(MATCHERS),
                                                      "schedule": {"from": frm, "to": to}}})
    if draw(st.booleans()):
        rules.append({"id": "device-hides-links", "inhibit": {
            "source": {"event": "device_down", **draw(st.sampled_from([{}, {"severity": "critical"}]))},
            "target": {"event": "link_down"}, "equal": ["resource"]}})
    silences = draw(st.lists(st.tuples(MATCHERS, st.sampled_from([0, 60, 200]), st.sampled_from([120, 300, 900])),
                             max_size=2))
    event = st.fixed_dictionaries({
        "resource": st.sampled_from(["r1", "r2"]),
        "event": st.sampled_from(["link_down", "device_down"]),
        "severity": st.sampled_from(["major", "minor", "critical", "clear"]),
        "labels": st.dictionaries(st.sampled_from(["site", "kind"]), st.sampled_from(["ams", "core", "edge"]),
                                  max_size=2),
    })
    gaps = draw(st.lists(st.sampled_from([0, 30, 70]), min_size=1, max_size=8))
    steps, at = [], 0
    for g in gaps:
        at += g
        steps.append((at, draw(event)))
    return Case(rules, silences, steps)


def table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(({k: r[k] for k in SHOWN} for r in rows), key=lambda r: sorted((k, str(v)) for k, v in r.items()))


async def run_server(case: Case, db_file: Path, rules_dir: Path) -> list[dict[str, Any]]:
    """The server's path, step by step; asserts explain == stored and no flip on re-check."""
    rs, errors = load_ruleset([rules_dir])
    assert not errors, errors
    clock = FakeClock(START)
    correlator = RulesCorrelator(compile_ruleset(rs), clock)
    suppression = RulesSuppression(correlator)
    db = Database(f"sqlite+aiosqlite:///{db_file}")
    pipeline = build_pipeline(db, metrics=Metrics(), correlator=correlator, suppression=suppression, clock=clock)
    try:
        async with db.write() as conn:
            for matchers, starts, ends in case.silences:
                await conn.execute(insert(SILENCES).values(
                    matchers=matchers, starts_at=START + timedelta(seconds=starts),
                    ends_at=START + timedelta(seconds=ends), comment="c", created_by="t", created_at=START))
        for at, data in case.steps:
            clock.now = START + timedelta(seconds=at)
            await suppression.run_pass(pipeline.store)  # what the timer loop does when time passes
            event = NormalizedEvent.model_validate({**data, "occurred_at": clock.now})
            async with db.read() as conn:
                explained = await correlator.explain(conn, event)
            await pipeline.accept([event])
            await pipeline.drain()
            async with db.read() as conn:
                row = (await conn.execute(select(ALERTS).where(
                    ALERTS.c.fingerprint == explained.fingerprint).order_by(ALERTS.c.id.desc()))).mappings().first()
            if not explained.is_clear and not explained.drop:
                assert row is not None
                assert (row["status"], row["suppressed_reason"]) == (
                    AlertStatus.suppressed if explained.suppressed_reason else AlertStatus.active,
                    explained.suppressed_reason), (data, explained.trace)
            async with pipeline.store.transaction() as conn:
                flips = await reevaluate(conn, correlator, clock.now, pipeline.store.sink)
            assert flips == 0, f"a re-check changed {flips} alert(s) right after {data} in {case}"
        async with db.read() as conn:
            return [dict(r) for r in (await conn.execute(select(ALERTS))).mappings()]
    finally:
        await db.dispose()


async def run_rules_test(case: Case, rules_dir: Path, expected: list[dict[str, Any]]) -> list[str]:
    doc = {"tests": [{"name": "server", "start": START.isoformat().replace("+00:00", "Z"),
                      "input": [{"at": f"{at}s", "event": ev} for at, ev in case.steps],
                      "expect": [{"alerts": expected}]}]}
    (rules_dir / "tests.yaml").write_text(json.dumps(doc))
    rs, errors = load_ruleset([rules_dir])
    assert not errors, errors
    results = await RuleTestRunner(compile_ruleset(rs)).run(list(rs.tests))
    return [p for r in results for p in r.problems]


@pytest.mark.fuzz
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(case=cases())
def test_server_explain_and_rules_test_decide_on_the_same_view(case: Case, template: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="one-view-case-"))
    try:
        rules_dir = work / "rules"
        rules_dir.mkdir()
        (rules_dir / "rules.yaml").write_text(json.dumps({"rules": case.rules}))
        shutil.copyfile(template, work / "db.sqlite")
        rows = asyncio.run(run_server(case, work / "db.sqlite", rules_dir))
        if not case.silences:  # `rules test` has no API silences
            expected = table(rows)
            problems = asyncio.run(run_rules_test(case, rules_dir, expected))
            assert problems == [], "\n".join(problems)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_a_silence_on_the_mapped_severity_does_not_flip_on_repeats(template: Path, tmp_path: Path) -> None:
    """The issue's case: a rule maps the severity; a silence matches the stored (mapped) one."""
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "rules.yaml").write_text(json.dumps({"rules": [
        {"id": "core-is-critical", "when": {"labels.kind": "core"}, "set": {"severity": "critical"}}]}))
    shutil.copyfile(template, tmp_path / "db.sqlite")
    ev = {"resource": "r1", "event": "link_down", "severity": "major", "labels": {"kind": "core"}}
    case = Case([], [({"severity": "critical"}, 0, 900)], [(0, ev), (30, ev), (60, ev), (90, ev)])
    rows = asyncio.run(run_server(case, tmp_path / "db.sqlite", rules_dir))
    assert [(r["status"], r["severity"], r["duplicate_count"]) for r in rows] == [("suppressed", "critical", 3)]


MAPPED_WINDOW = """\
rules:
  - id: core-is-critical
    when: {labels.kind: core}
    set: {severity: critical}
  - id: critical-window
    maintenance: {when: {severity: critical}, schedule: {from: "00:00", to: "23:59"}}
tests:
  - name: the window holds the mapped alert on every repeat
    input:
      - {at: 0s, event: {resource: r1, event: link_down, severity: major, labels: {kind: core}}}
      - {at: 30s, event: {resource: r1, event: link_down, severity: major, labels: {kind: core}}}
      - {at: 60s, event: {resource: r1, event: link_down, severity: major}}
    expect:
      - at: 30s
        alerts: [{resource: r1, status: suppressed, severity: critical, duplicate_count: 1,
                  suppressed_reason: "maintenance window critical-window"}]
      - at: 60s
        alerts: [{resource: r1, status: active, severity: major, duplicate_count: 0, suppressed_reason: null}]
"""


async def test_live_server_explain_and_rules_test_agree_on_a_mapped_severity(
        settings_factory: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Over HTTP: repeats stay suppressed, POST /rules/explain says why, a re-check agrees, and
    `rules test` with the same input expects exactly what the server did (the file's test also
    gates the reload: the server runs these rules only because it passed)."""
    from opsconductor.cli.main import main
    from tests.support.server import start_live_server

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(MAPPED_WINDOW)
    settings = settings_factory(rules_dir=rules, rules_reevaluate_interval_s=600.0, rules_watch=False)
    core = {"resource": "r1", "event": "link_down", "severity": "major", "labels": {"kind": "core"}}
    async with start_live_server(settings) as srv, srv.client(srv.write_key) as c:
        for ev in (core, core):
            explained = (await c.post("/api/v1/rules/explain", json=ev)).json()
            r = await c.post("/api/v1/events", params={"wait": "true"}, json=[ev])
            alert = (await c.get(f"/api/v1/alerts/{r.json()['results'][0]['alert_id']}")).json()
            assert (alert["status"], alert["severity"]) == ("suppressed", "critical")
            assert explained["suppressed_reason"] == alert["suppressed_reason"] == "maintenance window critical-window"
        assert srv.runtime.suppression is not None
        assert await srv.runtime.suppression.run_pass(srv.runtime.store) == 0  # the re-check agrees
        plain = {"resource": "r1", "event": "link_down", "severity": "major"}  # not mapped: leaves the window
        explained = (await c.post("/api/v1/rules/explain", json=plain)).json()
        r = await c.post("/api/v1/events", params={"wait": "true"}, json=[plain])
        alert = (await c.get(f"/api/v1/alerts/{r.json()['results'][0]['alert_id']}")).json()
        assert explained["suppressed_reason"] is None and (alert["status"], alert["severity"]) == ("active", "major")
        assert await srv.runtime.suppression.run_pass(srv.runtime.store) == 0
        status = (await c.get("/api/v1/rules/status")).json()
        assert status["last_reload"]["ok"] is True, status
    assert await asyncio.to_thread(main, ["rules", "test", str(rules)]) == 0, capsys.readouterr().err


def test_correlation_parents_enter_through_the_accept_path(template: Path, tmp_path: Path) -> None:
    """A derived parent is accepted like any event: in the log, counted as received, processed."""
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "rules.yaml").write_text(json.dumps({"rules": [
        {"id": "site", "correlate": {"when": {"event": "device_down"}, "group_by": ["labels.site"], "count": 2,
                                     "within": "2m", "raise": {"event": "site_down", "resource": "{labels.site}",
                                                               "severity": "critical"}}}]}))
    shutil.copyfile(template, tmp_path / "db.sqlite")

    async def run() -> tuple[float, list[tuple[str, str]]]:
        rs, errors = load_ruleset([rules_dir])
        assert not errors, errors
        clock = FakeClock(START)
        correlator = RulesCorrelator(compile_ruleset(rs), clock)
        metrics = Metrics()
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
        pipeline = build_pipeline(db, metrics=metrics, correlator=correlator,
                                  suppression=RulesSuppression(correlator), clock=clock)
        try:
            await pipeline.accept([NormalizedEvent(resource=r, event="device_down", severity="critical",
                                                   labels={"site": "ams"}) for r in ("a", "b")])
            await pipeline.drain()
            async with db.read() as conn:
                rows = [(r["resource"], r["event"]) for r in (await conn.execute(select(ALERTS))).mappings()]
            received = metrics.registry.get_sample_value("opsconductor_events_received_total",
                                                         {"source": "opsconductor"})
            return received or 0.0, rows
        finally:
            await db.dispose()

    received, rows = asyncio.run(run())
    assert received == 1
    assert ("ams", "site_down") in rows
