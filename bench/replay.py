"""Benchmark of `rules replay`: the stored event log through two rule sets, in isolation.

    .venv/bin/python bench/replay.py [--events 100000] [--resources 5000] [--resolution 60]
                                     [--in-process]

A recorded stream (--events over --span seconds of log time, a day by default; device,
link and BGP events over --resources devices in 20 sites, downs and their clears) is
replayed by ``replay_diff`` -- what ``opsconductor rules replay`` and
``POST /api/v1/rules/replay`` run -- through the shipped rules (base) and a copy where one
inhibit rule changed (new), each on its own private SQLite database, and diffed.

Prints ONE line. The figure is **events of the log per second of wall time of the whole
comparison**: ``--events`` divided by the wall time of ``replay_diff`` (both replays, base
AND new, from starting their worker processes to the finished diff). Each event is replayed
twice (once per rule set), so the replay work done is twice that figure; the line also gives
each replay's own rate (events / its time inside its worker process) and the diff size.
``--in-process`` runs the two replays one after the other in this process (the fallback path).
The target is >= 20,000 events/s (not reached: see the CHANGELOG and docs/rules.md).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from opsconductor.correlate.loader import load_ruleset
from opsconductor.correlate.replay import LoggedEvent, replay_diff
from opsconductor.correlate.service import compile_ruleset

ROOT = Path(__file__).resolve().parents[1]


def stream(n: int, resources: int, span_s: float) -> list[LoggedEvent]:
    rnd = random.Random(12)
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    step = span_s / n
    out = []
    down: set[str] = set()
    for i in range(n):
        r = f"sw{rnd.randrange(resources)}.site{rnd.randrange(20)}"
        x = rnd.random()
        if x < 0.1:
            ev = {"resource": r, "event": "device_up" if r in down else "device_down", "severity": "critical"}
            down.symmetric_difference_update({r})
        elif x < 0.6:
            ev = {"resource": r, "event": rnd.choice(["link_down", "link_up"]),
                  "component": f"ge-0/0/{rnd.randrange(8)}", "severity": "major"}
        else:
            ev = {"resource": r, "event": rnd.choice(["bgp_down", "bgp_up"]), "component": f"peer-{rnd.randrange(4)}",
                  "severity": "major"}
        ev["labels"] = {"site": r.split(".")[1]}
        out.append(LoggedEvent(t0 + timedelta(seconds=i * step), ev))
    return out


async def bench(args: argparse.Namespace) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="oc-bench-replay-"))
    try:
        new_dir = tmp / "new"
        new_dir.mkdir()
        for f in (ROOT / "rules").glob("*.yaml"):
            shutil.copy(f, new_dir / f.name)
        dev = new_dir / "30-devices.yaml"
        dev.write_text(dev.read_text().replace("target: {event: [link_down, bgp_down]}", "target: {event: link_down}"))
        base_rs, e1 = load_ruleset([ROOT / "rules"])
        new_rs, e2 = load_ruleset([new_dir])
        assert not e1 and not e2, (e1, e2)
        notify = ROOT / "rules" / "notify.yaml"
        log = stream(args.events, args.resources, args.span)
        t0 = time.perf_counter()
        report = await replay_diff(compile_ruleset(base_rs), compile_ruleset(new_rs), log, base_notify=notify,
                                   new_notify=notify, resolution_s=args.resolution, processes=not args.in_process)
        total = time.perf_counter() - t0
        changed = sum(g["count"] for g in report["differences"])
        how = "one after the other in this process" if args.in_process else "in two worker processes"
        return (f"replay: {args.events} events through base and new rules ({how}) + diff in {total:.1f}s: "
                f"{args.events / total:,.0f} events/s (target 20,000; {2 * args.events / total:,.0f} event "
                f"replays/s); per replay base {report['base']['events_per_s']:,} events/s, new "
                f"{report['new']['events_per_s']:,} events/s; {report['base']['alerts']} alerts, "
                f"{changed} differences")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--resources", type=int, default=5_000)
    p.add_argument("--span", type=float, default=86_400.0, help="seconds of log time the events cover")
    p.add_argument("--resolution", type=float, default=60.0, help="replay resolution (seconds of log time)")
    p.add_argument("--in-process", action="store_true", help="both replays one after the other in this process")
    print(asyncio.run(bench(p.parse_args())))


if __name__ == "__main__":
    main()
