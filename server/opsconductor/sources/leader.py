"""Which server process is the leader: it runs the poller, the SNMP trap receiver and raises the
self-alerts (one of each, however many ``serve --workers`` processes share the database).

PostgreSQL: the process holding a session-level advisory lock (``pg_try_advisory_lock``)
on its own dedicated connection is the leader. If it dies its session ends, the lock is
released, and another process takes over within ``retry_s``. A leader that loses its
connection stops polling at once (it can no longer prove it holds the lock).
SQLite: the process holding an exclusive ``flock`` on ``<database file>-leader`` (next to the
database's ``-wal`` and ``-shm`` files; every process using an SQLite file runs on the same
host) is the leader. The kernel releases the lock when the process dies, however it dies, and
another process takes over within ``retry_s``. The file holds the leader's pid, for people.
An in-memory database has one process: always the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

POLLER_LOCK_KEY = 0x0C0DE003
"""Advisory lock id of the poller leader (the pipeline uses 0x0C0DE001)."""

Hook = Callable[[], Awaitable[None]]


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def sqlite_lock_file(database_url: str) -> Path | None:
    """The file whose flock makes a process the leader; None for an in-memory database."""
    path = make_url(database_url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path).with_name(Path(path).name + "-leader")


class LeaderElection:
    def __init__(self, database_url: str, *, on_gain: Hook | None = None, on_lose: Hook | None = None,
                 retry_s: float = 1.0, key: int = POLLER_LOCK_KEY):
        self.is_pg = database_url.startswith("postgresql")
        self._dsn = asyncpg_dsn(database_url) if self.is_pg else ""
        self._lock_file = None if self.is_pg else sqlite_lock_file(database_url)
        self._listeners: list[tuple[Hook, Hook]] = []
        if on_gain is not None or on_lose is not None:
            self.watch(on_gain or _nothing, on_lose or _nothing)
        self.retry_s = retry_s
        self.key = key
        self.leader = False
        self._conn: asyncpg.Connection | None = None  # PostgreSQL: the session holding the lock
        self._fd: int | None = None  # SQLite: the open lock file

    def watch(self, on_gain: Hook, on_lose: Hook) -> None:
        """Call ``on_gain`` when this process becomes the leader, ``on_lose`` when it stops being it
        (in registration order; a hook that fails is logged and the others still run)."""
        self._listeners.append((on_gain, on_lose))

    async def try_now(self) -> bool:
        """One attempt, at once (the server's start: a process alone is the leader before it answers,
        so its trap listener is bound and its /readyz true from the first request); ``run`` goes on."""
        if self.leader:
            return True
        try:
            if self.is_pg:
                conn = await asyncpg.connect(self._dsn, timeout=5)
                if await conn.fetchval("SELECT pg_try_advisory_lock($1::bigint)", self.key):
                    self._conn = conn
                else:
                    conn.terminate()
                    return False
            elif self._lock_file is not None and not self._flock():
                return False
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("leader election: %s: %s", type(exc).__name__, exc)
            return False
        await self._gain()
        return True

    async def run(self) -> None:
        """Run for the life of the process (cancel to stop)."""
        if not self.is_pg:
            await self._run_sqlite()
            return
        while True:
            conn, self._conn = self._conn, None  # held already if try_now won
            try:
                if conn is None:
                    conn = await asyncpg.connect(self._dsn, timeout=5)
                    while not await conn.fetchval("SELECT pg_try_advisory_lock($1::bigint)", self.key):  # noqa: ASYNC110
                        await asyncio.sleep(self.retry_s)
                await self._gain()
                while True:  # keep proving the session (and so the lock) is alive
                    await asyncio.sleep(self.retry_s)
                    await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=max(2.0, self.retry_s * 3))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("leader election: %s: %s", type(exc).__name__, exc)
            finally:
                await self._lose()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.terminate()
            await asyncio.sleep(self.retry_s)

    def _flock(self) -> bool:
        """Try to take the SQLite leader lock (the file stays open while held); True if held."""
        assert self._lock_file is not None
        if self._fd is None:
            self._lock_file.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)
        return True

    async def _run_sqlite(self) -> None:
        try:
            if self._lock_file is not None:
                while not self.leader and not self._flock():  # noqa: ASYNC110 - polls a lock in the kernel
                    await asyncio.sleep(self.retry_s)
            await self._gain()
            await asyncio.Event().wait()  # the lock is ours until this process ends (or is cancelled)
        finally:
            try:
                await self._lose()  # stop the leader's work before another process may start it
            finally:
                if self._fd is not None:
                    os.close(self._fd)  # releases the lock
                    self._fd = None

    async def _gain(self) -> None:
        if not self.leader:
            self.leader = True
            log.info("this process (pid %d) is now the leader (poller, trap receiver, self-alerts)", os.getpid())
            for on_gain, _ in self._listeners:
                await _hook(on_gain)

    async def _lose(self) -> None:
        if self.leader:
            self.leader = False
            log.warning("this process (pid %d) is no longer the leader", os.getpid())
            for _, on_lose in self._listeners:
                await _hook(on_lose)


async def _nothing() -> None:
    return None


async def _hook(fn: Hook) -> None:
    try:
        await fn()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("leader change: %s failed", getattr(fn, "__qualname__", fn))
