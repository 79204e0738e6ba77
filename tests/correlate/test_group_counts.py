"""Correlation counts: stored members are counted in SQL (inside the window), the batch's own
fingerprints exactly once, members cleared in the batch no longer count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from opsconductor.correlate.compiled import CompiledRuleSet
from opsconductor.correlate.correlator import RulesCorrelator
from opsconductor.correlate.loader import load_ruleset
from opsconductor.correlate.worker import InProcessEngine
from opsconductor.model.decision import AcceptedEvent, Decision
from opsconductor.model.event import NormalizedEvent, Severity
from opsconductor.store.db import Database

RULES = """\
rules:
  - id: site-down
    correlate: {when: {event: dev_down}, group_by: [labels.site], count: 3, within: 2m,
                raise: {event: isolated, resource: "{labels.site}"}}
"""
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def ev(resource: str, site: str = "s1", sev: Severity = Severity.major) -> NormalizedEvent:
    return NormalizedEvent(resource=resource, event="dev_down", severity=sev, labels={"site": site})


def counts(decisions: list[Decision]) -> list[str | None]:
    out: list[str | None] = []
    for d in decisions:
        details = [t["detail"] for t in d.trace if t.get("stage") == "correlate" and " in 120s " in t["detail"]]
        out.append(details[0].split(" ")[0] if details else None)
    return out


async def test_counts_across_batches_windows_repeats_and_clears(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "c.yaml").write_text(RULES)
    rs, errors = load_ruleset([tmp_path / "r"])
    assert not errors
    compiled = CompiledRuleSet(rs)
    compiled.engine = InProcessEngine(compiled.matchers.spec)
    now = [T0]
    correlator = RulesCorrelator(compiled, lambda: now[0])
    db = Database(db_url)
    n = iter(range(1, 1000))

    async def batch(at: timedelta, *events: NormalizedEvent) -> list[Decision]:
        now[0] = T0 + at
        async with db.write() as conn:
            return (await correlator.decide(conn, [AcceptedEvent(next(n), e, now[0]) for e in events])).decisions

    try:
        assert counts(await batch(timedelta(0), ev("a1"), ev("a2"), ev("b1", "s2"))) == ["1/3", "2/3", "1/3"]
        # a1, a2 left the 2 minute window; b1 is another group
        assert counts(await batch(timedelta(minutes=3), ev("a3"))) == ["1/3"]
        # a3 is stored and repeats in the batch: counted once; a5 makes three and raises the parent
        got = await batch(timedelta(minutes=3, seconds=10), ev("a4"), ev("a3"), ev("a5"))
        assert counts(got) == ["2/3", "2/3", "3/3"]
        assert any(t.get("detail") == "raises isolated on s1" for t in got[2].trace)
        # a4 clears in this batch: it no longer counts for a6 (a3, a5 stored + a6)
        got = await batch(timedelta(minutes=3, seconds=20), ev("a4", sev=Severity.clear), ev("a6"))
        assert counts(got) == [None, "3/3"]
        # a4 is back (its closed membership is replaced), a7 is new: a3 a5 a6 a4 a7
        assert counts(await batch(timedelta(minutes=3, seconds=30), ev("a4"), ev("a7"))) == ["4/3", "5/3"]
    finally:
        await db.dispose()
