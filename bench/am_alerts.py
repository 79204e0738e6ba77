"""Alertmanager API benchmark: GET /api/v2/alerts and /api/v2/alerts/groups with many open alerts.

Runs a real `opsconductor serve` child process (SQLite, the shipped rules and notify routes) and
real HTTP on loopback; what amtool, karma (every refresh) and Grafana pay per read.

    .venv/bin/python bench/am_alerts.py [--alerts 10000]

Prints one comparable figure per endpoint: the median over 5 reads, in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def _serve(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = 19000 + os.getpid() % 1000
    env = {**os.environ, "OPSCONDUCTOR_DATA_DIR": str(data_dir), "OPSCONDUCTOR_PORT": str(port),
           "OPSCONDUCTOR_LOG_LEVEL": "warning", "OPSCONDUCTOR_TRAP_ENABLED": "false",
           "OPSCONDUCTOR_RULES_DIR": str(ROOT / "rules"), "OPSCONDUCTOR_ADDONS_DIR": str(data_dir / "no-addons")}
    log = (data_dir / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "opsconductor", "serve"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/readyz").status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit("server exited:\n" + (data_dir / "server.log").read_text()[-3000:])
        time.sleep(0.1)
    raise SystemExit("server not ready")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = _serve(Path(tmp))
        try:
            key = (Path(tmp) / "admin.key").read_text().strip()
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=300) as c:
                sev = ["critical", "major", "minor", "warning"]
                for start in range(0, args.alerts, 1000):
                    batch = [{"resource": f"rtr{i % 500}.site{i % 7}", "event": f"check_{i // 500}",
                              "severity": sev[i % 4], "summary": f"check {i} failed", "labels": {"site": f"s{i % 7}"}}
                             for i in range(start, min(start + 1000, args.alerts))]
                    r = c.post("/api/v1/events", params={"wait": "true"}, json=batch)
                    r.raise_for_status()
                for path in ("/api/v2/alerts", "/api/v2/alerts/groups"):
                    times = []
                    for _ in range(5):
                        t0 = time.perf_counter()
                        r = c.get(path, headers={"Accept": "application/json"})
                        r.raise_for_status()
                        times.append((time.perf_counter() - t0) * 1000)
                    n = len(r.json())
                    print(f"GET {path} with {args.alerts} open alerts ({n} items): "
                          f"median {statistics.median(times):.0f} ms")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
