"""Several server processes (on PostgreSQL, or on one SQLite file): exactly one polls; kill it and another
takes over within seconds."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from opsconductor.store.db import Database
from tests.sources.peers import SnmpAgent, free_tcp_port
from tests.sources.waits import wait_for

HEARTBEAT = """
name: heartbeat
version: 1.0.0
targets: {labels: {snmp: "yes"}}
sources:
  - name: uptime
    kind: snmp
    interval: 1
    scalars: {sysUpTime: 1.3.6.1.2.1.1.3.0}
    events:
      - {event: heartbeat, when: always, severity: info}
"""
ADMIN_KEY = "opsc_test_leader_admin_key_0123456789"


def _serve(tmp: Path, db_url: str, port: int, inv: Path, community: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OPSCONDUCTOR_DATABASE_URL": db_url, "OPSCONDUCTOR_ADDONS_DIR": str(tmp / "addons"),
           "OPSCONDUCTOR_INVENTORY_FILE": str(inv), "OPSCONDUCTOR_DATA_DIR": str(tmp / f"data{port}"),
           "OPSCONDUCTOR_RULES_DIR": str(tmp / "no-rules"), "OPSCONDUCTOR_ADMIN_KEY": ADMIN_KEY,
           "OPSCONDUCTOR_PORT": str(port), "OPSCONDUCTOR_POLLER_LEADER_RETRY_S": "0.5",
           "TEST_SNMP_COMMUNITY": community, "OPSCONDUCTOR_LOG_LEVEL": "warning"}
    (tmp / "no-rules").mkdir(exist_ok=True)  # a missing rules dir refuses to start
    log = open(tmp / f"server{port}.log", "wb")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "opsconductor", "serve"], env=env, stdout=log, stderr=log)


async def _poller(port: int) -> dict | None:  # type: ignore[type-arg]
    try:
        async with httpx.AsyncClient(timeout=2) as c:
            r = await c.get(f"http://127.0.0.1:{port}/api/v1/poller", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
            return r.json() if r.status_code == 200 else None
    except httpx.HTTPError:
        return None


async def _heartbeats(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(text(
            "SELECT count(*) FROM events WHERE payload->>'event' = 'heartbeat'"))).scalar_one())


@pytest.mark.faults
@pytest.mark.slow
async def test_kill_the_leader_and_polling_continues(db_url, tmp_path, snmpd: SnmpAgent):
    (tmp_path / "addons" / "heartbeat").mkdir(parents=True)
    (tmp_path / "addons" / "heartbeat" / "addon.yaml").write_text(HEARTBEAT)
    inv = tmp_path / "inv.yaml"
    inv.write_text(f"targets: [{{name: r1, address: 127.0.0.1, port: {snmpd.port}, labels: {{snmp: 'yes'}}, "
                   "credential: 'env:TEST_SNMP_COMMUNITY'}]\n")
    ports = [free_tcp_port(), free_tcp_port()]
    procs = {p: _serve(tmp_path, db_url, p, inv, snmpd.community) for p in ports}
    db = Database(db_url)
    try:
        async def one_leader() -> int | None:
            states = {p: await _poller(p) for p in ports}
            if any(s is None for s in states.values()):
                return None
            leaders = [p for p, s in states.items() if s and s["leader"]]
            return leaders[0] if len(leaders) == 1 else None

        leader = await wait_for(one_leader, timeout=30, what="exactly one leader")
        follower = next(p for p in ports if p != leader)
        assert not (await _poller(follower))["jobs"][0]["runs"]  # type: ignore[index]
        before = await wait_for(lambda: _heartbeats(db), timeout=15, what="heartbeat events")
        procs[leader].send_signal(signal.SIGKILL)
        procs[leader].wait(10)
        killed_at = asyncio.get_running_loop().time()

        async def took_over() -> bool:
            s = await _poller(follower)
            return bool(s and s["leader"])

        await wait_for(took_over, timeout=10, what="follower takes over")
        after_kill = await _heartbeats(db)
        await wait_for(lambda: _more(db, after_kill + 2), timeout=10, what="polling continues")
        assert asyncio.get_running_loop().time() - killed_at < 10
        assert after_kill >= before
    finally:
        await db.dispose()
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


async def _more(db: Database, n: int) -> bool:
    return await _heartbeats(db) >= n


async def test_sqlite_one_leader_per_database_file_and_a_takeover_when_it_goes(tmp_path: Path) -> None:
    """SQLite: the flock on <database>-leader; two elections stand for two processes (each opens the
    file itself, and flock locks are per open file). The leader's hooks run in order; cancelling it
    (its process ending) lets the other take over within retry_s."""
    from opsconductor.sources.leader import LeaderElection

    url = f"sqlite+aiosqlite:///{tmp_path / 'oc.db'}"
    calls: list[str] = []

    def election(name: str) -> LeaderElection:
        e = LeaderElection(url, retry_s=0.05)

        async def gain() -> None:
            calls.append(f"{name}+")

        async def lose() -> None:
            calls.append(f"{name}-")

        async def fails() -> None:
            raise RuntimeError("a stage's hook fails: the others still run")

        e.watch(fails, fails)
        e.watch(gain, lose)
        return e

    a, b = election("a"), election("b")
    ta = asyncio.create_task(a.run())
    await wait_for(lambda: _true(a.leader), timeout=5, what="a leads")
    tb = asyncio.create_task(b.run())
    await asyncio.sleep(0.3)
    assert (a.leader, b.leader) == (True, False)
    assert (tmp_path / "oc.db-leader").read_text().strip() == str(os.getpid())
    ta.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ta
    await wait_for(lambda: _true(b.leader), timeout=5, what="b takes over")
    tb.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await tb
    assert calls == ["a+", "a-", "b+", "b-"]


async def _true(value: bool) -> bool | None:
    return True if value else None
