"""`opsconductor serve --workers 2` on one SQLite file: a real server child (two uvicorn worker
processes behind one port), real HTTP from several connections. Both processes answer, exactly one
is the leader, and nothing accepted is lost or counted twice: every fingerprint's duplicate_count is
what was sent, cleared ones are resolved, and the event log holds each accepted event once, processed."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.process import ServerProcess

pytestmark = pytest.mark.faults

KEYS = 120  # fingerprints
PER_KEY = 12  # firing events per fingerprint (duplicate_count = PER_KEY - 1)
CONNECTIONS = 8


def _events() -> list[dict[str, Any]]:
    return [{"resource": f"r{k}", "event": "link_down", "component": "ge-0/0/1", "severity": "major", "value": n}
            for n in range(PER_KEY) for k in range(KEYS)]


async def _send(url: str, key: str, bodies: list[tuple[str, bytes]]) -> tuple[list[int], dict[int, int]]:
    """Send the bodies from CONNECTIONS concurrent clients: batches on each client's keep-alive connection,
    single events each on a new connection (the kernel hands new connections to either worker), after
    asking that connection's process for its pid. The accepted ids; events accepted by pid (singles)."""
    todo: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for b in bodies:
        todo.put_nowait(b)
    ids: list[int] = []
    by_pid: dict[int, int] = {}
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def post(c: httpx.AsyncClient, query: str, body: bytes) -> list[int]:
        r = await c.post(f"/api/v1/events{query}", content=body)
        assert r.status_code in (200, 202), r.text
        got: list[int] = r.json()["ids"]
        ids.extend(got)
        return got

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, limits=one, timeout=60, headers=headers) as c:
            while not todo.empty():
                query, body = todo.get_nowait()
                if body.startswith(b"["):
                    await post(c, query, body)
                    continue
                async with httpx.AsyncClient(base_url=url, limits=one, timeout=60, headers=headers) as fresh:
                    pid = int((await fresh.get("/api/v1/poller")).json()["pid"])
                    by_pid[pid] = by_pid.get(pid, 0) + len(await post(fresh, query, body))

    await asyncio.gather(*(client() for _ in range(CONNECTIONS)))
    return ids, by_pid


def _bodies(events: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    """A mix: batches of 40 with ?wait=true, batches of 40 without, single events."""
    out: list[tuple[str, bytes]] = []
    i = 0
    while i < len(events):
        kind = (i // 40) % 3
        if kind == 2:
            out.extend(("", json.dumps(e).encode()) for e in events[i : i + 40])
        else:
            out.append(("?wait=true" if kind == 0 else "", json.dumps(events[i : i + 40]).encode()))
        i += 40
    return out


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


async def _processed(db: Path, n: int) -> None:
    for _ in range(600):
        (done, waiting), = _query(db, "SELECT sum(processed = 1), sum(processed = 0) FROM events")
        if done == n and not waiting:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not processed: {done} of {n}")


@pytest.mark.slow
async def test_two_sqlite_workers_lose_nothing_and_count_nothing_twice(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "srv", args=["serve", "--workers", "2"],
                           env={"OPSCONDUCTOR_POLLER_LEADER_RETRY_S": "0.2", "OPSCONDUCTOR_LOG_LEVEL": "warning",
                                "OPSCONDUCTOR_TRAP_ENABLED": "false"})
    db = tmp_path / "srv" / "opsconductor.db"
    try:
        await asyncio.to_thread(server.start)
        key = server.admin_key
        async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as c:
            seen: dict[int, bool] = {}
            for _ in range(200):  # both workers up, exactly one of them the leader
                s = (await c.get("/api/v1/poller", headers={"Connection": "close"})).json()
                seen[s["pid"]] = s["leader"]
                if len(seen) == 2 and sum(seen.values()) == 1:
                    break
                await asyncio.sleep(0.05)
            assert len(seen) == 2 and sum(seen.values()) == 1, seen

        firing = _events()
        ids, by_pid = await _send(server.url, key, _bodies(firing))
        assert set(by_pid) == set(seen), by_pid  # both processes accepted events
        await _processed(db, len(firing))
        # Then a clear for every other fingerprint and more duplicates for the rest, all at once.
        cleared = {f"r{k}" for k in range(0, KEYS, 2)}
        more = [{"resource": f"r{k}", "event": "link_down", "component": "ge-0/0/1",
                 "severity": "clear" if f"r{k}" in cleared else "major"} for k in range(KEYS)]
        more_ids, _ = await _send(server.url, key, _bodies(more))
        ids += more_ids
        await _processed(db, len(firing) + len(more))
    finally:
        await asyncio.to_thread(server.stop)

    assert len(ids) == len(set(ids)) == len(firing) + len(more)  # every event accepted once, its own id
    logged = [r[0] for r in _query(db, "SELECT id FROM events ORDER BY id")]
    assert logged == sorted(ids)  # the log holds exactly what was accepted
    alerts = {r[0]: (r[1], r[2]) for r in _query(db, "SELECT resource, status, duplicate_count FROM alerts "
                                                     "WHERE source IS NULL OR source <> 'opsconductor'")}
    assert len(alerts) == KEYS  # one alert per fingerprint: nothing opened twice
    for resource, (status, duplicates) in alerts.items():
        if resource in cleared:
            assert (status, duplicates) == ("resolved", PER_KEY - 1), resource
        else:
            assert (status, duplicates) == ("active", PER_KEY), resource
    outcomes = dict(_query(db, "SELECT outcome, count(*) FROM events GROUP BY outcome"))
    assert outcomes.get("created") == KEYS, outcomes
