"""The database handle: one async engine, write transactions, and migrations.

SQLite (the embedded default) allows one writer at a time; rather than let
concurrent writers fight over SQLITE_BUSY, writes in this process queue on an
asyncio lock. PostgreSQL writers run concurrently; cross-process ordering where
it matters uses advisory locks (see ``pipeline.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from opsconductor.errors import Unavailable
from opsconductor.shipped import shipped

MIGRATIONS_DIR = shipped("migrations")

# Errors that mean "the database is not reachable right now", as opposed to a bug.
DB_DOWN_ERRORS: tuple[type[BaseException], ...] = (OperationalError, DBAPIError, OSError, ConnectionError, TimeoutError)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class Database:
    """Owns the engine; hands out write transactions and read connections."""

    def __init__(self, url: str, *, echo: bool = False):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True, pool_timeout=10)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a write transaction, committed on success, rolled back on error."""
        with _unavailable_when_down():
            if self._write_lock is not None:
                async with self._write_lock, self.engine.begin() as conn:
                    yield conn
            else:
                async with self.engine.begin() as conn:
                    yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (its own short transaction)."""
        with _unavailable_when_down():
            async with self.engine.connect() as conn:
                yield conn

    async def ping(self) -> None:
        """Raise Unavailable unless a trivial query succeeds."""
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def analyze(self) -> None:
        """Refresh the query planner's statistics. Both planners pick a full scan or a full sort
        for the alert queries while they believe the alerts table is empty, which it is right
        after a bulk load, until autovacuum (PostgreSQL) or nobody (SQLite) analyzes it."""
        async with self.write() as conn:
            await conn.exec_driver_sql("ANALYZE" if self.is_sqlite else "ANALYZE alerts, events")

    async def dispose(self) -> None:
        await self.engine.dispose()


@contextmanager
def _unavailable_when_down() -> Iterator[None]:
    """Turn "cannot reach the database" into Unavailable (-> 503); other database errors are bugs."""
    try:
        yield
    except DB_DOWN_ERRORS as exc:
        if isinstance(exc, DBAPIError) and not exc.connection_invalidated and not _is_connectivity(exc):
            raise
        raise Unavailable(f"database unavailable: {_short(exc)}") from exc


def _is_connectivity(exc: DBAPIError) -> bool:
    msg = str(exc.orig if exc.orig is not None else exc).lower()
    return any(
        s in msg
        for s in ("connect", "connection", "closed", "terminat", "unable to open", "timeout", "shutdown", "refused")
    )


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: {str(orig).splitlines()[0] if str(orig) else ''}"
