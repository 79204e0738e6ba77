"""Scale-out on PostgreSQL: throughput with 1, 2 and 4 server processes on one database.

Each run gets a fresh database; N ``opsconductor serve`` processes share it, and 20 keep-alive
connections (spread over the processes) send the issue-14 workload - 20,000 events over 2,000
keys, 100 per request - with ``?wait=true``, so an answer means processed into the alert table.
Prints events/s per N and the ratio to N=1 (target: 2 processes >= 1.6 x 1).

    .venv/bin/python bench/scaleout.py [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import ROOT, RawClient, Server

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


async def run(n: int, base_url: str) -> float:
    name = f"opsc_scale_{uuid.uuid4().hex[:8]}"
    admin_dsn = base_url.replace("postgresql+asyncpg", "postgresql")
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = base_url.rsplit("/", 1)[0] + "/" + name
    key = "opsc_" + secrets.token_hex(20)
    servers: list[Server] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(n):  # one after the other: the first migrates and creates the key
                data = Path(tmp) / f"s{i}"
                data.mkdir()
                s = Server(data, url, str(ROOT / "rules"), port=17000 + (os.getpid() % 200) * 5 + i,
                           extra_env={"OPSCONDUCTOR_ADMIN_KEY": key})
                s.key = key
                servers.append(s)
            events = [{"resource": f"rtr{i % 2000}", "event": "link_down", "severity": "major", "value": i}
                      for i in range(20_000)]
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            for i in range(0, len(events), 100):
                queue.put_nowait(json.dumps(events[i : i + 100]).encode())

            async def worker(server: Server) -> None:
                client = RawClient(server.port, key)
                try:
                    while not queue.empty():
                        status, body = await client.post("/api/v1/events?wait=true", queue.get_nowait())
                        if status != 200:
                            raise RuntimeError(f"{status}: {body[:300]!r}")
                finally:
                    await client.close()

            t0 = time.perf_counter()
            await asyncio.gather(*(worker(servers[c % n]) for c in range(20)))
            return len(events) / (time.perf_counter() - t0)
    finally:
        for s in servers:
            s.stop()
        admin = await asyncpg.connect(admin_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url", default=PG)
    ap.add_argument("--processes", default="1,2,4")
    args = ap.parse_args()
    figures: dict[int, float] = {}
    for n in (int(x) for x in args.processes.split(",")):
        figures[n] = await run(n, args.database_url)
        base = figures[min(figures)]
        print(f"  {n} process(es) on one PostgreSQL: {figures[n]:,.0f} events/s (wait=true), "
              f"x{figures[n] / base:.2f} of {min(figures)}")


if __name__ == "__main__":
    asyncio.run(main())
