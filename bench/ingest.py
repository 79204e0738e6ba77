"""Ingest benchmark: accept -> processed throughput, accept->visible latency, peak RSS, list latency.

Runs a real `opsconductor serve` child process and real HTTP clients on loopback.

    .venv/bin/python bench/ingest.py                      # SQLite (embedded default)
    .venv/bin/python bench/ingest.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

Scenarios (issue 14, first): the peer workload - 20,000 events over 2,000 keys, 100 per request
from 10 connections with ``?wait=true`` (accepted AND processed into the alert table when answered) -
against Debian's prometheus-alertmanager fed the same workload in the same run
(bench/peer_alertmanager.py), printing the ratio and CPU microseconds per event (server + database
processes). ``--no-peer`` skips Alertmanager; ``--quick`` skips the 100,000 open alerts;
``--workers N`` runs ``serve --workers N`` (N server processes behind one port; on SQLite they
parse and validate in parallel and take turns writing): compare ``--workers 1`` and ``--workers 2``.

Scenarios (issue 2): 20,000 events over 2,000 fingerprints (90 % duplicates) in batches of 500 from
4 concurrent clients; the same as single-event requests from 50 concurrent clients; then 100,000 open
alerts: peak RSS and GET /api/v1/alerts?limit=100 p99. Latency is accept->visible, read from the event
log (processed_at - received_at of every event).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


class Server:
    def __init__(self, data_dir: Path, database_url: str | None, rules_dir: str, *, port: int | None = None,
                 extra_env: dict[str, str] | None = None, workers: int = 1):
        self.port = port or 18000 + os.getpid() % 1000
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "OPSCONDUCTOR_DATA_DIR": str(data_dir), "OPSCONDUCTOR_PORT": str(self.port),
               "OPSCONDUCTOR_LOG_LEVEL": "warning", "OPSCONDUCTOR_HOUSEKEEPING_INTERVAL_S": "5",
               "OPSCONDUCTOR_TRAP_ENABLED": "false", "OPSCONDUCTOR_RULES_DIR": rules_dir}
        if database_url:
            env["OPSCONDUCTOR_DATABASE_URL"] = database_url
        env.update(extra_env or {})
        self.data_dir = data_dir
        args = [sys.executable, "-m", "opsconductor", "serve"] + (["--migrate"] if database_url else [])
        args += ["--workers", str(workers)] if workers > 1 else []
        self.proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=open(data_dir / "server.log", "w"))  # noqa: SIM115 - lives with the child
        self.ps = psutil.Process(self.proc.pid)
        self.workers = workers
        self.peak_rss = 0
        self._sampling = True
        threading.Thread(target=self._sample, daemon=True).start()
        for _ in range(600):
            try:
                if httpx.get(self.url + "/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit("server exited:\n" + (data_dir / "server.log").read_text()[-3000:])
            time.sleep(0.1)
        self.key = (data_dir / "admin.key").read_text().strip() if (data_dir / "admin.key").exists() else ""

    def _sample(self) -> None:
        while self._sampling:
            try:  # the server process; with workers, uvicorn's supervisor and its worker processes, summed
                rss = self.ps.memory_info().rss
                for child in self.ps.children() if self.workers > 1 else []:
                    with contextlib.suppress(psutil.Error):
                        rss += child.memory_info().rss
                self.peak_rss = max(self.peak_rss, rss)
            except psutil.Error:
                return
            time.sleep(0.05)

    def stop(self) -> None:
        self._sampling = False
        self.proc.terminate()
        self.proc.wait(30)


async def backlog_zero(expected: int, db: DB) -> float:
    while True:
        if await db.processed() >= expected:
            return time.perf_counter()
        await asyncio.sleep(0.02)


class DB:
    """Reads the event log directly to measure accept->visible latency without disturbing the server."""

    def __init__(self, url: str | None, data_dir: Path):
        self.url, self.data_dir = url, data_dir

    async def _rows(self, sql: str) -> list[tuple]:
        if self.url:
            dsn = self.url.replace("postgresql+asyncpg", "postgresql")
            conn = await asyncpg.connect(dsn)
            try:
                return [tuple(r) for r in await conn.fetch(sql)]
            finally:
                await conn.close()
        import sqlite3

        con = sqlite3.connect(self.data_dir / "opsconductor.db", timeout=30)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    async def processed(self) -> int:
        rows = await self._rows("SELECT count(*) FROM events WHERE processed = true")
        return int(rows[0][0])

    async def latencies(self, min_id: int) -> list[float]:
        if self.url:
            sql = f"SELECT extract(epoch from processed_at - received_at) FROM events WHERE id > {min_id}"
            return [float(r[0]) for r in await self._rows(sql)]
        sql = f"SELECT (julianday(processed_at) - julianday(received_at)) * 86400.0 FROM events WHERE id > {min_id}"
        return [float(r[0]) for r in await self._rows(sql)]

    async def max_id(self) -> int:
        rows = await self._rows("SELECT coalesce(max(id), 0) FROM events")
        return int(rows[0][0])


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


class RawClient:
    """A minimal keep-alive HTTP/1.1 client: httpx's per-request CPU would be the bottleneck here."""

    def __init__(self, port: int, key: str):
        self.port, self.key = port, key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, method: str = "POST") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self.key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Cpu:
    """CPU seconds of the server process (and its children) plus the database's processes: the
    server's PostgreSQL backends (pg_stat_activity of the bench database); SQLite runs inside the server."""

    def __init__(self, server: Server, db_url: str | None):
        self.server, self.db_url = server, db_url

    async def _pids(self) -> list[int]:
        if not self.db_url:
            return []
        name = self.db_url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(self.db_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                                    name)
        finally:
            await conn.close()
        return [int(r[0]) for r in rows]

    async def sample(self) -> dict[int, float]:
        procs = [self.server.ps, *self.server.ps.children(recursive=True)]
        procs += [psutil.Process(p) for p in await self._pids() if psutil.pid_exists(p)]
        out: dict[int, float] = {}
        for proc in procs:
            try:
                t = proc.cpu_times()
                out[proc.pid] = t.user + t.system
            except psutil.Error:
                pass
        return out

    @staticmethod
    def used(before: dict[int, float], after: dict[int, float]) -> float:
        return sum(t - before.get(pid, 0.0) for pid, t in after.items())


async def peer_workload(server: Server, db: DB, cpu: Cpu, peer: bool) -> None:
    """The issue's workload with ?wait=true; the same against Alertmanager; the ratio."""
    import peer_alertmanager

    events: list[dict] = [{"resource": f"peer{i % 2000}", "event": "link_down", "severity": "major", "value": i}
                          for i in range(20_000)]
    bodies = [json.dumps(events[i : i + 100]).encode() for i in range(0, len(events), 100)]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)

    async def worker() -> None:
        client = RawClient(server.port, server.key)
        try:
            while not queue.empty():
                status, body = await client.post("/api/v1/events?wait=true", queue.get_nowait())
                if status != 200:
                    raise RuntimeError(f"{status}: {body[:300]!r}")
        finally:
            await client.close()

    before = await cpu.sample()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(10)))
    ours = len(events) / (time.perf_counter() - t0)
    used = Cpu.used(before, await cpu.sample())
    print(f"  peer workload (20,000 events, 2,000 keys, 100/request, 10 connections, wait=true): "
          f"{ours:,.0f} events/s; CPU {used * 1e6 / len(events):,.0f} us/event (server + database)")
    if peer:
        am = await peer_alertmanager.measure(events, 100, 10)
        print(f"  alertmanager {am:,.0f} events/s on the same workload; ratio opsconductor(wait=true)/alertmanager "
              f"= {ours / am:.2f}")


async def run_scenario(server: Server, db: DB, name: str, events: list[dict], batch: int, clients: int) -> None:
    start_id = await db.max_id()
    already = await db.processed()
    bodies = [json.dumps(events[i : i + batch] if batch > 1 else events[i]).encode()
              for i in range(0, len(events), batch)]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)

    async def worker() -> None:
        client = RawClient(server.port, server.key)
        try:
            while not queue.empty():
                status, body = await client.post("/api/v1/events", queue.get_nowait())
                if status != 202:
                    raise RuntimeError(f"{status}: {body[:300]!r}")
        finally:
            await client.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    t_accept = time.perf_counter()
    t_done = await backlog_zero(already + len(events), db)
    lat = await db.latencies(start_id)
    print(f"  {name}: {len(events)} events, accepted in {t_accept - t0:.2f}s "
          f"({len(events) / (t_accept - t0):,.0f}/s), processed in {t_done - t0:.2f}s "
          f"-> {len(events) / (t_done - t0):,.0f} events/s accepted AND processed; "
          f"accept->visible p50 {pct(lat, 0.5) * 1000:.0f} ms p99 {pct(lat, 0.99) * 1000:.0f} ms; "
          f"peak RSS {server.peak_rss / 2**20:.0f} MB")


async def list_latency(server: Server, n: int = 200) -> tuple[float, float]:
    client = RawClient(server.port, server.key)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        status, _ = await client.post("/api/v1/alerts?limit=100", b"", method="GET")
        times.append(time.perf_counter() - t)
        assert status == 200
    await client.close()
    return pct(times, 0.5), pct(times, 0.99)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--open-alerts", type=int, default=100_000)
    ap.add_argument("--no-peer", action="store_true", help="skip the Alertmanager comparison")
    ap.add_argument("--quick", action="store_true", help="skip the open-alerts scenario")
    ap.add_argument("--rules-dir", default=str(ROOT / "rules"), help="rules to run with (default: the shipped ones)")
    ap.add_argument("--workers", type=int, default=1, help="server processes (serve --workers N)")
    args = ap.parse_args()
    db_url = args.database_url
    pg_name = None
    if db_url:  # a fresh database per run
        pg_name = f"opsc_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(db_url.replace("postgresql+asyncpg", "postgresql"))
        await admin.execute(f'CREATE DATABASE "{pg_name}"')
        await admin.close()
        db_url = db_url.rsplit("/", 1)[0] + "/" + pg_name
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        server = Server(data_dir, db_url, args.rules_dir, workers=args.workers)
        db = DB(db_url, data_dir)
        kind = "postgresql" if db_url else "sqlite"
        print(f"ingest benchmark on {kind}, {args.workers} server process(es), rules from {args.rules_dir}")
        try:
            await peer_workload(server, db, Cpu(server, db_url), not args.no_peer)
            events = [{"resource": f"rtr{i % 2000}", "event": "link_down", "severity": "major", "value": i}
                      for i in range(20_000)]
            await run_scenario(server, db, "batched 500 x 4 clients", events, 500, 4)
            single = [{"resource": f"sw{i % 2000}", "event": "cpu_high", "severity": "minor", "value": i}
                      for i in range(10_000)]
            await run_scenario(server, db, "single-event x 50 clients", single, 1, 50)
            if not args.quick:
                opened = [{"resource": f"big{i}", "event": "device_down", "severity": "critical"}
                          for i in range(args.open_alerts)]
                await run_scenario(server, db, f"{args.open_alerts} open alerts", opened, 1000, 4)
                p50, p99 = await list_latency(server)
                print(f"  GET /api/v1/alerts?limit=100 with {args.open_alerts + 4000} open alerts: "
                      f"p50 {p50 * 1000:.1f} ms p99 {p99 * 1000:.1f} ms; peak RSS {server.peak_rss / 2**20:.0f} MB")
        finally:
            server.stop()
    if pg_name:
        admin = await asyncpg.connect(args.database_url.replace("postgresql+asyncpg", "postgresql"))
        await admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
