"""Console benchmark: time to render the alert list, and change -> browser (SSE) latency.

Runs a real `opsconductor serve` child process (SQLite unless --database-url) and real HTTP on loopback:

    .venv/bin/python bench/console.py [--open-alerts 5000] [--rounds 30]

Fills the alert table with open alerts, signs in like a browser (session cookie), then
1. GET / (the first 500 alerts, server-rendered) and GET /console/fragment/alerts (what a live
   refresh fetches), ``--rounds`` times each: p50 / p95;
2. with /console/stream open, posts one new event at a time and times accept -> ``event: change``
   (the target is well under 1 s; the probe polls every 0.25 s).
Prints one line; the comparable figure is the change -> browser p95.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], str, Path]:
    data = Path(tempfile.mkdtemp(prefix="opsc-bench-console-"))
    port = 19000 + os.getpid() % 1000
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OPSCONDUCTOR_DATA_DIR": str(data), "OPSCONDUCTOR_PORT": str(port),
           "OPSCONDUCTOR_LOG_LEVEL": "warning", "OPSCONDUCTOR_RULES_DIR": str(ROOT / "rules"),
           "OPSCONDUCTOR_TRAP_ENABLED": "false"}
    if args.database_url:
        env["OPSCONDUCTOR_DATABASE_URL"] = args.database_url
    cmd = [sys.executable, "-m", "opsconductor", "serve"] + (["--migrate"] if args.database_url else [])
    with (data / "server.log").open("w") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
    for _ in range(600):
        try:
            if httpx.get(url + "/readyz").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit("server exited:\n" + (data / "server.log").read_text()[-3000:])
        time.sleep(0.1)
    return proc, url, data


async def measure(args: argparse.Namespace, url: str, data: Path) -> tuple[list[float], list[float], list[float]]:
    key = (data / "admin.key").read_text().strip()
    async with httpx.AsyncClient(base_url=url, timeout=60, headers={"Authorization": f"Bearer {key}"}) as api:
        for start in range(0, args.open_alerts, 500):
            batch = [{"resource": f"dev{i}.bench", "event": "link_down", "component": f"if{i % 48}",
                      "severity": ("critical", "major", "minor", "warning")[i % 4],
                      "summary": f"interface {i} down", "labels": {"site": f"s{i % 20}"}}
                     for i in range(start, min(start + 500, args.open_alerts))]
            r = await api.post("/api/v1/events", params={"wait": "true"}, json=batch)
            r.raise_for_status()
    async with httpx.AsyncClient(base_url=url, timeout=60) as browser:
        r = await browser.post("/login", data={"key": key})
        assert r.status_code == 303, r.text
        page, frag = [], []
        for _ in range(args.rounds):
            t = time.perf_counter()
            (await browser.get("/")).raise_for_status()
            page.append(time.perf_counter() - t)
            t = time.perf_counter()
            (await browser.get("/console/fragment/alerts", params={"group": "site"})).raise_for_status()
            frag.append(time.perf_counter() - t)
        latency: list[float] = []
        async with httpx.AsyncClient(base_url=url, timeout=60, headers={"Authorization": f"Bearer {key}"}) as api:
            for round_ in range(4):  # a stream lives 10 s: measure 5 changes per stream, like a browser would
                async with browser.stream("GET", "/console/stream") as stream:
                    lines = stream.aiter_lines()
                    while (await anext(lines)) != "event: hello":
                        pass
                    for i in range(5):
                        await asyncio.sleep(0.3)
                        t = time.perf_counter()
                        await api.post("/api/v1/events", params={"wait": "true"},
                                       json=[{"resource": f"new{round_}-{i}.bench", "event": "device_down"}])
                        while (await asyncio.wait_for(anext(lines), 10)) != "event: change":
                            pass
                        latency.append(time.perf_counter() - t)
    return page, frag, latency


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--open-alerts", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--database-url")
    args = ap.parse_args()
    proc, url, data = start_server(args)
    try:
        page, frag, latency = asyncio.run(measure(args, url, data))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    kind = "postgresql" if args.database_url else "sqlite"
    print(f"console[{kind}] with {args.open_alerts} open alerts: GET / p50 {statistics.median(page) * 1000:.0f} ms "
          f"p95 {pct(page, 95) * 1000:.0f} ms; live fragment (grouped) p95 {pct(frag, 95) * 1000:.0f} ms; "
          f"change -> browser p50 {statistics.median(latency) * 1000:.0f} ms p95 {pct(latency, 95) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
