"""The SQLite driver under SQLAlchemy: aiosqlite, with one thread hand-off per statement.

aiosqlite runs each sqlite3 call in the connection's worker thread, and SQLAlchemy's adapter
makes four calls per statement (open a cursor, execute, fetch the rows, close the cursor).
Every call is a round trip between the event loop and that thread (a queue put, a thread
wake-up, the GIL changing hands, a loop wake-up): on this kind of machine ~100 µs of CPU each,
several times what SQLite spends on a typical statement. A short read (``BEGIN``, one
``SELECT``, the rollback) cost 9 hand-offs and ~1.2 ms of CPU.

:class:`OneHopConnection` keeps aiosqlite's thread (a slow disk or a lock held by another
process blocks that thread, never the event loop) but runs a whole statement - cursor,
execute, fetch, close - in one call: a short read is 3 hand-offs.

Scratch databases (a replay's, private to one process) go further with
:class:`InlineConnection`: no thread at all, every statement runs in the loop's thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import types
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

T = TypeVar("T")

Description = tuple[tuple[str, None, None, None, None, None, None], ...] | None


class _Ran:
    """What one statement left behind, read in the worker thread before its cursor closed."""

    __slots__ = ("description", "lastrowid", "rowcount", "rows")

    def __init__(self, cur: sqlite3.Cursor) -> None:
        self.description: Description = cur.description
        self.rows: list[Any] = cur.fetchall() if cur.description else []
        self.rowcount = cur.rowcount
        self.lastrowid = cur.lastrowid
        cur.close()


class OneHopCursor:
    """The cursor SQLAlchemy's aiosqlite adapter drives: ``execute`` runs the statement and
    fetches its rows in one call to the worker thread; the rest answers from what it returned."""

    arraysize = 1

    def __init__(self, conn: OneHopConnection) -> None:
        self._conn = conn
        self._ran: _Ran | None = None

    async def __aenter__(self) -> OneHopCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _run(self, sql: str, params: Any, many: bool) -> _Ran:
        cur = self._conn._conn.cursor()
        if many:
            cur.executemany(sql, params)
        elif params is None:
            cur.execute(sql)
        else:
            cur.execute(sql, params)
        return _Ran(cur)

    async def execute(self, sql: str, parameters: Any = None) -> OneHopCursor:
        self._ran = await self._conn._execute(self._run, sql, parameters, False)  # type: ignore[no-untyped-call]
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> OneHopCursor:
        self._ran = await self._conn._execute(self._run, sql, parameters, True)  # type: ignore[no-untyped-call]
        return self

    async def fetchall(self) -> list[Any]:
        if self._ran is None:
            return []
        rows, self._ran.rows = self._ran.rows, []
        return rows

    async def fetchone(self) -> Any:
        if self._ran is None or not self._ran.rows:
            return None
        return self._ran.rows.pop(0)

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        if self._ran is None:
            return []
        n = size or self.arraysize
        rows, self._ran.rows = self._ran.rows[:n], self._ran.rows[n:]
        return rows

    async def close(self) -> None:
        """Nothing to do: the sqlite3 cursor closed in the thread, right after its statement."""

    @property
    def description(self) -> Description:
        return self._ran.description if self._ran is not None else None

    @property
    def rowcount(self) -> int:
        return self._ran.rowcount if self._ran is not None else -1

    @property
    def lastrowid(self) -> int | None:
        return self._ran.lastrowid if self._ran is not None else None


class _NoHop:
    """``await conn.cursor()`` and ``async with conn.cursor()`` without a call to the thread."""

    def __init__(self, cursor: OneHopCursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Generator[Any, None, OneHopCursor]:
        if False:  # pragma: no cover - makes this a generator that returns at once
            yield
        return self._cursor

    async def __aenter__(self) -> OneHopCursor:
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        await self._cursor.close()


class OneHopConnection(aiosqlite.Connection):
    """aiosqlite's connection (its worker thread, its queue) with :class:`OneHopCursor` cursors."""

    def cursor(self) -> _NoHop:  # type: ignore[override]
        return _NoHop(OneHopCursor(self))


class _InlineQueue:
    """Stands in for aiosqlite's queue to its worker thread: runs each call at once, here."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting caller, as aiosqlite's thread does
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(OneHopConnection):
    """A connection whose calls run in the caller's thread: no worker thread, so no hand-off
    at all; every statement blocks the loop (scratch databases only)."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self._tx = _InlineQueue()  # type: ignore[assignment]

    async def _execute(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    def __await__(self) -> Generator[Any, None, aiosqlite.Connection]:
        return self._connect().__await__()  # no thread to start


def sqlite_module(*, inline: bool = False) -> Any:
    """SQLAlchemy's aiosqlite DBAPI adapter over :class:`OneHopConnection` (or, ``inline``,
    :class:`InlineConnection`); give it to ``create_async_engine(module=...)``."""
    from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

    kind = InlineConnection if inline else OneHopConnection

    def connect(database: str | Path, *, iter_chunk_size: int = 64, **kwargs: Any) -> OneHopConnection:
        return kind(lambda: sqlite3.connect(str(database), **kwargs), iter_chunk_size)

    module = types.ModuleType("opsconductor_sqlite")
    module.__dict__.update(vars(aiosqlite))
    module.connect = connect  # type: ignore[attr-defined]
    return AsyncAdapt_aiosqlite_dbapi(module, sqlite3)

