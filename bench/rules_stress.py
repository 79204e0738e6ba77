"""Stress: 2,000 rules, 100,000 distinct resources, 1,000,000 events through the engine worker.

    .venv/bin/python bench/rules_stress.py [--events 1000000] [--rules 2000]

Must not hang, crash, reject or grow without bound: every event gets an answer (no engine
fallback), and the worker's resident memory is sampled as the stream goes. The memo cache
is bypassed (every event is posted to the engine) and every event carries a distinct
resource and site, so the engine sees the whole stream. Prints ONE line.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rules import make_events, rules_yaml

from opsconductor.correlate.compiled import CompiledRuleSet
from opsconductor.correlate.loader import load_ruleset
from opsconductor.correlate.worker import EngineWorker


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--rules", type=int, default=2000)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="oc-stress-"))
    (tmp / "stress.yaml").write_text(rules_yaml(args.rules))
    t0 = time.perf_counter()
    rs, errors = load_ruleset([tmp / "stress.yaml"])
    assert not errors, errors[:3]
    compiled = CompiledRuleSet(rs)
    worker = EngineWorker(compiled.matchers.spec)
    build_s = time.perf_counter() - t0
    proc = psutil.Process(worker.pid)
    template = make_events(20_000, args.rules, 100_000)
    rnd = random.Random(3)
    rss: list[float] = []
    matched = failures = 0
    t0 = time.perf_counter()
    done = 0
    while done < args.events:
        n = min(1000, args.events - done)
        msgs = []
        for i in range(n):
            ev = template[(done + i) % len(template)]
            ev = ev.model_copy(update={"resource": f"rtr{(done + i) % 100_000}",
                                       "labels": {**ev.labels, "site": f"s{rnd.randrange(10**6)}"}})
            msgs.append(compiled.matchers.message(compiled.encode(ev)))
        answers = worker.classify(msgs)
        failures += sum(1 for a in answers if a is None)
        matched += sum(1 for a in answers if a)
        done += n
        if done % 100_000 == 0:
            rss.append(proc.memory_info().rss / 2**20)
    took = time.perf_counter() - t0
    worker.close()
    growth = rss[-1] - rss[0] if len(rss) > 1 else 0.0
    print(f"stress rules={args.rules} shards={len(compiled.shards)} events={args.events} resources=100000 "
          f"build_s={build_s:.2f} events_per_s={args.events / took:,.0f} engine_failures={failures} "
          f"events_matching_a_rule={matched} worker_rss_mb_first={rss[0]:.1f} worker_rss_mb_last={rss[-1]:.1f} "
          f"rss_growth_mb={growth:.1f}")


if __name__ == "__main__":
    main()
