"""Poller benchmark: 1,000 SNMP targets x 10 OIDs every 10 s against local snmpd.

    .venv/bin/python bench/poll.py [--targets 1000] [--agents 4] [--seconds 30]

Phases (one process, one SnmpEngine, the same targets and OIDs):
  raw        pysnmp get_cmd back to back with N concurrent workers: the ceiling (GET/s)
  saturated  the real Poller with intervals far shorter than it can serve: its max GET/s
  nominal    the real Poller at 10 s intervals: runs per target, missed intervals
  dead10     nominal, with 10 % of targets pointing at ports where nothing answers:
             the answering targets' poll rate compared with `nominal`
Prints one line per phase and a final summary line with the comparable figures.
Events go to a counter instead of the database: this measures polling, not storage. One rule
is a condition open on every target, so reconciliation (re-asserting it every poll) is in the cost.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from prometheus_client import CollectorRegistry
from pysnmp.hlapi.v3arch.asyncio import ObjectIdentity, ObjectType, get_cmd

from opsconductor.sources.http_client import HttpClient
from opsconductor.sources.job import Clients
from opsconductor.sources.kinds import Target, default_registry
from opsconductor.sources.manifest import parse_manifest
from opsconductor.sources.ping_client import Pinger
from opsconductor.sources.poller import Poller, PollerMetrics
from opsconductor.sources.snmp_client import SnmpAuth, SnmpClient
from opsconductor.sources.ssh_client import SshClient

COMMUNITY = "bench-community"
OIDS = [
    "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.4.0", "1.3.6.1.2.1.1.5.0",
    "1.3.6.1.2.1.1.6.0", "1.3.6.1.2.1.1.7.0", "1.3.6.1.2.1.2.1.0", "1.3.6.1.2.1.11.1.0", "1.3.6.1.2.1.11.2.0",
]
MANIFEST = """
name: bench
version: "1"
targets: {labels: {bench: "yes"}}
sources:
  - name: system
    kind: snmp
    interval: 10
    timeout: 6
    retries: 1
    scalars:
%s
    events:
      - {event: sysname_changed, when: change, field: f4, initial: false}
      # A condition that is open on every target (worst case for reconciliation: every poll
      # re-asserts it, one event per target per poll).
      - {event: bench_condition, when: change, field: f7, severity: {default: warning}}
    on_unreachable: {event: snmp_unreachable, severity: major}
""".replace("%s", "\n".join(f"      f{i}: {oid}" for i, oid in enumerate(OIDS)))


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_agents(n: int, workdir: Path) -> list[tuple[int, subprocess.Popen[bytes]]]:
    snmpd = shutil.which("snmpd") or "/usr/sbin/snmpd"
    if not os.path.exists(snmpd):
        sys.exit("snmpd not found: apt-get install -y snmpd")
    agents = []
    for i in range(n):
        port = free_udp_port()
        d = workdir / f"a{i}"
        d.mkdir()
        (d / "snmpd.conf").write_text(f"agentAddress udp:127.0.0.1:{port}\nrocommunity {COMMUNITY} 127.0.0.1\n"
                                      "sysName bench-agent\n")
        p = subprocess.Popen([snmpd, "-f", "-C", "-c", str(d / "snmpd.conf"), "-Lf", "/dev/null",
                              "-p", str(d / "pid")], env={**os.environ, "SNMP_PERSISTENT_DIR": str(d), "MIBS": ""},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        agents.append((port, p))
    time.sleep(1.0)
    return agents


def targets(n: int, ports: list[int], dead_ports: list[int], dead_fraction: float) -> list[Target]:
    out = []
    n_dead = int(n * dead_fraction)
    for i in range(n):
        port = dead_ports[i % len(dead_ports)] if i < n_dead else ports[i % len(ports)]
        out.append(Target(name=f"t{i:04d}", address="127.0.0.1", port=port, labels={"bench": "yes"},
                          credential="env:BENCH_COMMUNITY"))
    return out


async def raw_rate(ts: list[Target], seconds: float, workers: int) -> float:
    auth = SnmpAuth("2c", community=COMMUNITY).pysnmp()
    # A separate engine: the raw figure is plain documented pysnmp usage, nothing of ours.
    from pysnmp.hlapi.v3arch.asyncio import ContextData, SnmpEngine, UdpTransportTarget

    engine = SnmpEngine()
    context = ContextData()
    cache: dict[tuple[str, int], UdpTransportTarget] = {}
    for t in ts:
        if (t.address, t.port or 161) not in cache:
            cache[(t.address, t.port or 161)] = await UdpTransportTarget.create((t.address, t.port or 161),
                                                                              timeout=2.0, retries=1)
    transports = [cache[(t.address, t.port or 161)] for t in ts]
    # Resolved once, as the poller's client does: the comparison measures the poller's own
    # overhead (scheduling, records, events), not how varbinds are built.
    from pysnmp.hlapi.v3arch.asyncio.cmdgen import VB_PROCESSOR

    varbinds = tuple(ObjectType(ObjectIdentity(o)).resolve_with_mib(
        VB_PROCESSOR.get_mib_view_controller(engine.cache)) for o in OIDS)
    done = 0
    stop = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal done
        i = k
        while time.perf_counter() < stop:
            err, status, _, _ = await get_cmd(engine, auth, transports[i % len(transports)],
                                              context, *varbinds, lookupMib=False)
            if not err and not status:
                done += 1
            i += workers

    start = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(workers)))
    rate = done / (time.perf_counter() - start)
    engine.close_dispatcher()
    return rate


def ok_polls(poller: Poller) -> float:
    return float(poller.metrics.polls.labels("snmp", "ok")._value.get())


def make_poller(clients: Clients, ts: list[Target], interval: float) -> tuple[Poller, Counter[str]]:
    registry = default_registry()
    manifest = parse_manifest(MANIFEST, "bench.yaml", registry)
    ts = [dataclasses.replace(t, intervals={"bench": interval}) for t in ts]
    events: Counter[str] = Counter()

    async def emit(evs: Any) -> None:
        for e in evs:
            events[e.event] += 1

    poller = Poller(registry=registry, clients=clients, emit=emit, metrics=PollerMetrics(CollectorRegistry()),
                    environ={"BENCH_COMMUNITY": COMMUNITY}, max_backoff_s=60)
    poller.configure({"bench": manifest}, ts)
    return poller, events


async def run_poller(clients: Clients, ts: list[Target], interval: float, seconds: float
                     ) -> tuple[Poller, float, Counter[str]]:
    registry = default_registry()
    manifest = parse_manifest(MANIFEST, "bench.yaml", registry)
    # Per-target interval overrides (the manifest's minimum is 1 s; saturation needs less).
    ts = [dataclasses.replace(t, intervals={"bench": interval}) for t in ts]
    events: Counter[str] = Counter()

    async def emit(evs: Any) -> None:
        for e in evs:
            events[e.event] += 1

    poller = Poller(registry=registry, clients=clients, emit=emit, metrics=PollerMetrics(CollectorRegistry()),
                    environ={"BENCH_COMMUNITY": COMMUNITY}, max_backoff_s=60)
    poller.configure({"bench": manifest}, ts)
    poller.start()
    start = time.perf_counter()
    await asyncio.sleep(seconds)
    poller.stop()
    await asyncio.sleep(0.5)
    return poller, time.perf_counter() - start, events


def summarize(poller: Poller, elapsed: float, warmup: float, interval: float) -> dict[str, float]:
    st = poller.status()
    ok = [s for s in st if s["last_error"] is None]
    runs = poller.metrics.polls.labels("snmp", "ok")._value.get()
    late = poller.metrics.missed.labels(reason="late")._value.get()
    running = poller.metrics.missed.labels(reason="still_running")._value.get()
    missed = late + running
    expected = (elapsed - warmup) / interval
    return {"gets_per_s": runs / elapsed, "runs_min": min((s["runs"] for s in ok), default=0),
            "runs_expected": expected, "missed": missed, "ok_targets": len(ok), "late": late,
            "still_running": running,
            "missed_answering": sum(s["skipped"] for s in ok), "backoff_skips": sum(
                s["skipped"] for s in st if s["last_error"] is not None)}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--agents", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--workers", type=int, default=32, help="raw pysnmp: requests in flight")
    ap.add_argument("--rounds", type=int, default=3, help="raw/poller alternations for the rate comparison")
    ap.add_argument("--round-seconds", type=float, default=5.0)
    args = ap.parse_args()
    logging_quiet()
    with tempfile.TemporaryDirectory() as tmp:
        agents = start_agents(args.agents, Path(tmp))
        ports = [p for p, _ in agents]
        dead = [free_udp_port() for _ in range(4)]  # nothing listens there: requests time out
        try:
            clients = Clients(snmp=SnmpClient(), ssh=SshClient(), http=HttpClient(), ping=Pinger())
            live = targets(args.targets, ports, dead, 0.0)
            # raw and poller alternate in short rounds so that load from other processes on the
            # machine hits both alike; each figure is the total over its rounds.
            probe = await raw_rate(live, 3.0, args.workers)
            sat_interval = max(0.5, args.targets / (1.25 * probe))  # demand 25 % more than raw manages
            poller, _ = make_poller(clients, live, sat_interval)
            raw_done = raw_time = sat_done = sat_time = 0.0
            for _ in range(args.rounds):
                r = await raw_rate(live, args.round_seconds, args.workers)
                raw_done += r * args.round_seconds
                raw_time += args.round_seconds
                poller.start()
                await asyncio.sleep(min(sat_interval, 5.0) + 0.5)  # every job has started once
                c0, t0 = ok_polls(poller), time.perf_counter()
                await asyncio.sleep(args.round_seconds)
                sat_done += ok_polls(poller) - c0
                sat_time += time.perf_counter() - t0
                poller.stop()
                await asyncio.sleep(1.0)  # let the last polls finish
            raw = raw_done / raw_time
            sat = sat_done / sat_time
            print(f"raw        pysnmp get_cmd, {args.workers} workers: {raw:8.0f} GET/s (10 OIDs each; "
                  f"{args.rounds} rounds of {args.round_seconds:g} s)")
            print(f"saturated  poller, {args.targets} jobs every {sat_interval:.2f} s: {sat:8.0f} GET/s "
                  f"= {sat / raw:.0%} of raw (same rounds, alternating)")

            p, el, _ = await run_poller(clients, live, 10.0, args.seconds)
            nom = summarize(p, el, 5.0, 10.0)
            print(f"nominal    poller, {args.targets} targets x 10 OIDs / 10 s: {nom['gets_per_s']:6.1f} GET/s, "
                  f"min runs/target {nom['runs_min']} (expected >= {int(nom['runs_expected'])}), "
                  f"missed intervals {nom['missed']:.0f}")

            clients.snmp.close()
            clients = Clients(snmp=SnmpClient(), ssh=SshClient(), http=HttpClient(), ping=Pinger())
            mixed = targets(args.targets, ports, dead, 0.10)
            p, el, ev = await run_poller(clients, mixed, 10.0, args.seconds)
            d10 = summarize(p, el, 5.0, 10.0)
            live_rate_nom = nom["gets_per_s"] / max(nom["ok_targets"], 1)
            live_rate_d10 = d10["gets_per_s"] / max(d10["ok_targets"], 1)
            print(f"dead10     poller, 10 % not answering: answering targets {d10['ok_targets']:.0f}, "
                  f"{live_rate_d10 * 10:.3f} polls per target per 10 s vs {live_rate_nom * 10:.3f} without "
                  f"({live_rate_d10 / live_rate_nom:.1%}); min runs {d10['runs_min']}, missed {d10['missed']:.0f} "
                  f"(late {d10['late']:.0f}, still running {d10['still_running']:.0f}; skips of answering targets "
                  f"{d10['missed_answering']}, backoff skips of dead ones {d10['backoff_skips']}), "
                  f"unreachable events {ev['snmp_unreachable']}")
            clients.snmp.close()
            print(f"RESULT raw_get_per_s={raw:.0f} poller_saturated_get_per_s={sat:.0f} "
                  f"poller_vs_raw={sat / raw:.0%} nominal_missed={nom['missed']:.0f} "
                  f"nominal_min_runs={nom['runs_min']}/{int(nom['runs_expected'])} "
                  f"dead10_live_rate={live_rate_d10 / live_rate_nom:.1%}")
        finally:
            for _, proc in agents:
                proc.terminate()
                proc.wait()


def logging_quiet() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    logging.getLogger("opsconductor").setLevel(logging.ERROR)


if __name__ == "__main__":
    asyncio.run(main())
