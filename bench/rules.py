"""Benchmark of the correlate stage alone, and of a rules reload.

    .venv/bin/python bench/rules.py [--events 200000] [--rules 200] [--reload-rules 1000] [--open-alerts 100000]

- correlate: RulesCorrelator.decide() over batches of 1,000 events (the pipeline's batch)
  with a mixed rule set (severity maps, drops, dedup pairs, maintenance, inhibition, flap,
  correlation) and 100,000 distinct resources; the engine runs in its worker process and
  the state (silences, flap, correlation members) is read from / written to SQLite in the
  batch transaction, as in production. Alert-table writes are not part of this figure.
- engine: the same events classified with the memo cache disabled (every event posted).
- reevaluate: one full pass (first) and one incremental pass over --open-alerts open alerts
  (opened from the decisions above; pages of 1,000, one transaction each).
- reload: check + compile + start a fresh engine worker for --reload-rules rules.

Prints ONE line of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from opsconductor.correlate.compiled import CompiledRuleSet
from opsconductor.correlate.correlator import RulesCorrelator
from opsconductor.correlate.loader import ParseCache, load_ruleset
from opsconductor.correlate.reevaluate import Reevaluator
from opsconductor.correlate.worker import EngineWorker, WorkerProcess
from opsconductor.model.decision import AcceptedEvent
from opsconductor.model.event import NormalizedEvent
from opsconductor.store.alert_writer import ALERTS, NoSink, apply_decisions
from opsconductor.store.db import Database
from opsconductor.store.migrate import upgrade

VENDORS = [f"vendor{i}" for i in range(40)]
SITES = [f"site{i}" for i in range(60)]


def rules_yaml(n: int, offset: int = 0) -> str:
    """n rules of mixed kinds, network-flavoured, all disjoint where the checker requires it."""
    out = ["rules:"]
    kinds = ["severity", "dedup", "drop", "inhibit", "flap", "maintenance", "correlate", "severity"]
    for i in range(offset, offset + n):
        k = kinds[i % len(kinds)]
        if k == "severity":
            out.append(f"  - id: sev-{i}\n    when: {{source: vendor{i % 40}, event: {{regex: 'alarm_[a-z]+_{i}'}}}}\n"
                       f"    set: {{severity: {{from: labels.sev, map: {{'1': critical, '2': major, '3': minor}},"
                       " default: warning}}")
        elif k == "dedup":
            out.append(f"  - id: pair-{i}\n    when: {{event: [down_{i}, up_{i}]}}\n"
                       f"    dedup: {{key: [resource, component], correlate: [down_{i}, up_{i}]}}\n"
                       f"    clear_on: {{event: up_{i}}}")
        elif k == "drop":
            out.append(f"  - id: drop-{i}\n    when: {{labels.env: lab{i}}}\n    drop: true")
        elif k == "inhibit":
            out.append(f"  - id: inh-{i}\n    inhibit: {{source: {{event: node_down_{i}}},"
                       f" target: {{event: [down_{i - 2}, bgp_{i}]}}, equal: [resource]}}")
        elif k == "flap":
            out.append(f"  - id: flap-{i}\n    when: {{event: down_{i - 3}}}\n    flap: {{changes: 4, within: 10m}}")
        elif k == "maintenance":
            out.append(f"  - id: mw-{i}\n    maintenance: {{when: {{labels.role: role{i}}},"
                       " schedule: {days: [sat], from: '01:00', to: '03:00'}}")
        else:
            out.append(f"  - id: corr-{i}\n    correlate: {{when: {{event: dev_down_{i}}}, group_by: [labels.site],"
                       f" count: 5, within: 2m, raise: {{event: isolated_{i}, resource: '{{labels.site}}'}}}}")
    return "\n".join(out) + "\n"


def make_events(n: int, n_rules: int, resources: int) -> list[NormalizedEvent]:
    rnd = random.Random(7)
    pairs = [i for i in range(n_rules) if i % 8 == 1]
    evs = []
    for _ in range(n):
        i = rnd.choice(pairs)
        r = rnd.random()
        if r < 0.5:
            name = f"down_{i}" if rnd.random() < 0.7 else f"up_{i}"
        elif r < 0.8:
            name = f"alarm_x_{rnd.randrange(n_rules)}"
        else:
            name = rnd.choice([f"bgp_{i + 2}", f"node_down_{i + 2}", f"dev_down_{i + 5}", "cpu_high"])
        evs.append(NormalizedEvent(
            resource=f"rtr{rnd.randrange(resources)}", event=name, component=f"ge-0/0/{rnd.randrange(48)}",
            source=rnd.choice(VENDORS), labels={"site": rnd.choice(SITES), "sev": str(rnd.randrange(1, 5))},
            occurred_at=datetime(2026, 1, 5, 12, 0, tzinfo=UTC)))
    return evs


async def bench(args: argparse.Namespace) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="oc-bench-"))
    (tmp / "rules").mkdir()
    (tmp / "rules" / "bench.yaml").write_text(rules_yaml(args.rules))
    rs, errors = load_ruleset([tmp / "rules"])
    assert not errors, errors[:3]
    compiled = CompiledRuleSet(rs)
    worker = EngineWorker(compiled.matchers.spec)
    compiled.engine = worker
    url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    await upgrade(url)
    db = Database(url)
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    correlator = RulesCorrelator(compiled, lambda: now)
    events = make_events(args.events, args.rules, 100_000)
    batches = [[AcceptedEvent(i + j, e, now) for j, e in enumerate(events[i : i + 1000])]
               for i in range(0, len(events), 1000)]
    t0 = time.perf_counter()
    decided = []
    for b in batches:
        async with db.write() as conn:
            decided.append((await correlator.decide(conn, b)).decisions)
    correlate_rate = len(events) / (time.perf_counter() - t0)

    # re-evaluation with --open-alerts open alerts: the first pass (full sweep) and a pass after
    # which nothing happened (incremental), each over all its pages
    flat = [d for ds in decided for d in ds if not d.drop and not d.is_clear]
    async with db.write() as conn:
        for i in range(0, min(len(flat), args.open_alerts), 1000):
            await apply_decisions(conn, flat[i : min(i + 1000, args.open_alerts)], now,
                                  default_timeout=86_400, sink=NoSink())
        n_open = (await conn.execute(select(func.count()).select_from(ALERTS).where(
            ALERTS.c.status.in_(["active", "suppressed"])))).scalar_one()
    reevaluator = Reevaluator()

    async def one_pass() -> float:
        t0 = time.perf_counter()
        changed = None
        while changed is None:
            async with db.write() as conn:
                changed = await reevaluator.step(conn, correlator, now, NoSink())
        return time.perf_counter() - t0

    full_s = await one_pass()
    incremental_s = await one_pass()

    # the engine alone, every event posted (no memo): what a cache-hostile stream gets
    sample = events[: min(len(events), 20_000)]
    msgs = [compiled.matchers.message(compiled.encode(e)) for e in sample]
    t0 = time.perf_counter()
    for i in range(0, len(msgs), 1000):
        worker.classify(msgs[i : i + 1000])
    engine_rate = len(msgs) / (time.perf_counter() - t0)
    worker.close()
    await db.dispose()

    # reload: 1,000 rules in 20 files; cold (every file parsed) and after editing one file
    rdir = tmp / "reload"
    rdir.mkdir()
    per = args.reload_rules // 20
    for f in range(20):
        (rdir / f"r{f:02}.yaml").write_text(rules_yaml(per, offset=f * per))
    cache: ParseCache = {}

    def reload() -> float:
        spare = WorkerProcess()  # the service keeps a warm spare process between reloads
        time.sleep(1.0)
        t0 = time.perf_counter()
        rs2, errors = load_ruleset([rdir], cache=cache)
        assert not errors, errors[:3]
        c2 = CompiledRuleSet(rs2)
        w2 = EngineWorker(c2.matchers.spec, spare)
        took = time.perf_counter() - t0
        w2.close()
        return took

    cold = reload()
    (rdir / "r07.yaml").write_text(rules_yaml(per, offset=7 * per).replace("default: warning", "default: minor"))
    warm = reload()
    return (f"correlate_events_per_s={correlate_rate:,.0f} engine_uncached_events_per_s={engine_rate:,.0f} "
            f"reload_{args.reload_rules}_rules_cold_s={cold:.3f} reload_{args.reload_rules}_rules_one_file_changed_s="
            f"{warm:.3f} reevaluate_full_pass_s={full_s:.2f} reevaluate_incremental_pass_s={incremental_s:.3f} "
            f"open_alerts={n_open} rules={args.rules} events={args.events} resources=100000 "
            f"engine_calls={compiled.engine_calls}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--rules", type=int, default=200)
    p.add_argument("--reload-rules", type=int, default=1000)
    p.add_argument("--open-alerts", type=int, default=100_000)
    print(asyncio.run(bench(p.parse_args())))


if __name__ == "__main__":
    main()
