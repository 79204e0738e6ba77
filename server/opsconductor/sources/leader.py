"""Which server process runs the poller.

PostgreSQL: the process holding a session-level advisory lock (``pg_try_advisory_lock``)
on its own dedicated connection is the leader. If it dies its session ends, the lock is
released, and another process takes over within ``retry_s``. A leader that loses its
connection stops polling at once (it can no longer prove it holds the lock).
SQLite: one server process, always the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

POLLER_LOCK_KEY = 0x0C0DE003
"""Advisory lock id of the poller leader (the pipeline uses 0x0C0DE001)."""

Hook = Callable[[], Awaitable[None]]


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class LeaderElection:
    def __init__(self, database_url: str, *, on_gain: Hook, on_lose: Hook, retry_s: float = 1.0,
                 key: int = POLLER_LOCK_KEY):
        self.is_pg = database_url.startswith("postgresql")
        self._dsn = asyncpg_dsn(database_url) if self.is_pg else ""
        self._on_gain = on_gain
        self._on_lose = on_lose
        self.retry_s = retry_s
        self.key = key
        self.leader = False

    async def run(self) -> None:
        """Run for the life of the process (cancel to stop)."""
        if not self.is_pg:
            await self._gain()
            try:
                await asyncio.Event().wait()
            finally:
                await self._lose()
        while True:
            conn: asyncpg.Connection | None = None
            try:
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
                log.warning("poller leader election: %s: %s", type(exc).__name__, exc)
            finally:
                await self._lose()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.terminate()
            await asyncio.sleep(self.retry_s)

    async def _gain(self) -> None:
        if not self.leader:
            self.leader = True
            log.info("this process is now the poller leader")
            await self._on_gain()

    async def _lose(self) -> None:
        if self.leader:
            self.leader = False
            log.warning("this process is no longer the poller leader")
            await self._on_lose()
