"""Several processes on one SQLite file: write transactions take the write lock first (BEGIN
IMMEDIATE), so a read-then-write transaction never works on a stale read; a writer that waits
past busy_timeout is Unavailable (503), not a bug. Two Database objects (two engines, two
connection pools) stand for two server processes: SQLite's locks are per connection."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from opsconductor.errors import Unavailable
from opsconductor.store.db import Database

pytestmark = pytest.mark.faults


async def _setup(url: str) -> None:
    db = Database(url)
    try:
        async with db.write() as conn:
            await conn.exec_driver_sql("CREATE TABLE counter (n INTEGER NOT NULL)")
            await conn.exec_driver_sql("INSERT INTO counter VALUES (0)")
    finally:
        await db.dispose()


async def test_read_then_write_transactions_of_two_processes_never_lose_an_update(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'two.db'}"
    await _setup(url)
    a, b = Database(url), Database(url)
    try:
        async def increment(db: Database, times: int) -> None:
            for _ in range(times):
                async with db.write() as conn:  # read, yield to the other "process", write what was read + 1
                    n = int((await conn.execute(text("SELECT n FROM counter"))).scalar_one())
                    await asyncio.sleep(0)
                    await conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

        await asyncio.gather(increment(a, 50), increment(b, 50))
        async with a.read() as conn:
            assert (await conn.execute(text("SELECT n FROM counter"))).scalar_one() == 100
    finally:
        await a.dispose()
        await b.dispose()


async def test_a_writer_that_cannot_get_the_lock_within_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'locked.db'}"
    await _setup(url)
    holder, waiter = Database(url), Database(url, statement_timeout_s=0.3)
    try:
        async with holder.write() as conn:
            await conn.execute(text("UPDATE counter SET n = 1"))
            async with waiter.read() as r:  # readers are not blocked by a writer (WAL)
                assert (await r.execute(text("SELECT n FROM counter"))).scalar_one() == 0
            with pytest.raises(Unavailable, match="database is locked"):
                async with waiter.write() as other:
                    await other.execute(text("UPDATE counter SET n = 2"))
        assert waiter.faults.since is not None  # counted as an outage of this process's database
        async with waiter.write() as other:  # the lock is free again
            await other.execute(text("UPDATE counter SET n = 2"))
        async with holder.read() as r:
            assert (await r.execute(text("SELECT n FROM counter"))).scalar_one() == 2
    finally:
        await holder.dispose()
        await waiter.dispose()


async def test_a_writer_outside_the_queue_is_waited_for_up_to_busy_timeout(tmp_path: Path) -> None:
    """The sqlite3 shell (or anything that does not queue on the -write file) holding the write lock:
    SQLite's own busy_timeout applies, and "database is locked" after it is Unavailable too."""
    import sqlite3

    path = tmp_path / "shell.db"
    url = f"sqlite+aiosqlite:///{path}"
    await _setup(url)
    shell = sqlite3.connect(path, isolation_level=None)
    db = Database(url, statement_timeout_s=0.3)
    try:
        shell.execute("BEGIN IMMEDIATE")
        with pytest.raises(Unavailable, match="database is locked"):
            async with db.write() as conn:
                await conn.execute(text("UPDATE counter SET n = 3"))
        shell.execute("ROLLBACK")
        async with db.write() as conn:
            await conn.execute(text("UPDATE counter SET n = 3"))
    finally:
        shell.close()
        await db.dispose()


async def test_a_read_sees_one_snapshot(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'snap.db'}"
    await _setup(url)
    reader, writer = Database(url), Database(url)
    try:
        async with reader.read() as r:
            assert (await r.execute(text("SELECT n FROM counter"))).scalar_one() == 0
            async with writer.write() as w:
                await w.execute(text("UPDATE counter SET n = 5"))
            assert (await r.execute(text("SELECT n FROM counter"))).scalar_one() == 0  # same transaction
        async with reader.read() as r:
            assert (await r.execute(text("SELECT n FROM counter"))).scalar_one() == 5
    finally:
        await reader.dispose()
        await writer.dispose()
