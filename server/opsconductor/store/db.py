"""The database handle: one async engine, write transactions, and migrations.

SQLite (the embedded default) allows one writer at a time. Writes in this process
queue on an asyncio lock, then take their turn among the processes writing the same file
(``serve --workers N``, the trap receiver's child, the CLI) on a file lock
(``store/sqlite_lock.py``: fair, where SQLite's busy handler lets a busy writer starve the
others). Every write transaction then starts with ``BEGIN IMMEDIATE``, which takes SQLite's
write lock up front (waiting up to ``busy_timeout`` for it). A deferred transaction that read
first and wrote later could find, on its first write, that another process had committed
since its read (WAL: SQLITE_BUSY_SNAPSHOT, no waiting, and its reads were stale); taking the
lock first means what a write transaction reads is what it writes over. Reads run in deferred
transactions (one snapshot each). A writer still without the lock after
``db_statement_timeout_s`` is Unavailable (503).
PostgreSQL writers run concurrently; cross-process ordering where it matters uses
advisory locks (see ``store/alert_store.py``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.compiler import InsertmanyvaluesSentinelOpts

from opsconductor.errors import Unavailable
from opsconductor.shipped import shipped
from opsconductor.store.sqlite_driver import sqlite_module
from opsconductor.store.sqlite_lock import WriterQueue

T = TypeVar("T")

MIGRATIONS_DIR = shipped("migrations")

# Errors that mean "the database is not reachable right now", as opposed to a bug.
DB_DOWN_ERRORS: tuple[type[BaseException], ...] = (OperationalError, DBAPIError, OSError, ConnectionError, TimeoutError)


WRITE_OPTION = "opsconductor_write"
"""Execution option that marks a connection's transaction as a write: ``BEGIN IMMEDIATE`` on SQLite."""


def _sqlite_connect(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # The driver's own transaction handling (legacy sqlite3 mode) is off: it would BEGIN
        # (deferred) only before the first INSERT/UPDATE/DELETE, after the transaction's reads.
        # _sqlite_begin below emits the BEGIN instead.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return on_connect


def _sqlite_begin(conn: Any) -> None:
    """Every transaction begins here: writes take the write lock at once, reads take a snapshot."""
    write = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _scratch_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """A throwaway database: no fsync, the rollback journal in memory, a 256 MB page cache
    (transactions begun by ``_sqlite_begin``, as on every SQLite database)."""
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=MEMORY")
    cur.execute("PRAGMA synchronous=OFF")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA cache_size=-262144")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _json_loads(text: str | bytes) -> Any:
    """JSON columns: msgspec's decoder (several times the stdlib's speed: the processor reads the
    labels of every open alert a batch touches), the stdlib's for what msgspec refuses (NaN,
    Infinity, numbers out of a double's range), so the values are the stdlib's."""
    try:
        return msgspec.json.decode(text)
    except msgspec.MsgspecError:
        return json.loads(text)


@dataclass
class DbFaults:
    """The current database outage as seen by this process: when it began, the last error, and
    whether the last write failed (disk full or read-only answers reads but refuses writes)."""

    since: datetime | None = None
    error: str | None = None
    last_failure: float = 0.0  # monotonic
    write_failed: bool = False
    failures: int = 0

    def failed(self, error: str, *, write: bool) -> None:
        if self.since is None:
            self.since = datetime.now(UTC)
        self.error, self.last_failure = error, time.monotonic()
        self.write_failed = self.write_failed or write
        self.failures += 1

    def wrote(self) -> None:
        """A write that needed space went through (an empty transaction proves nothing)."""
        self.write_failed = False

    def end(self) -> tuple[datetime, str] | None:
        """Close the outage (the database answers again): (since, last error), or None if there was none."""
        if self.since is None:
            return None
        since, error = self.since, self.error or "unknown error"
        self.since, self.error, self.write_failed, self.failures = None, None, False, 0
        return since, error


class Database:
    """Owns the engine; hands out write transactions and read connections."""

    def __init__(self, url: str, *, echo: bool = False, timeout_s: float = 2.0, statement_timeout_s: float = 30.0,
                 scratch: bool = False):
        """``scratch`` (SQLite only, opt-in for private throwaway databases such as a replay's, never
        the server's): the driver runs in the event loop's thread (each statement blocks the loop,
        but costs no hand-off to a worker thread), no fsync, the journal in memory, JSON columns
        read by msgspec, many rows inserted with RETURNING in one statement."""
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.timeout_s = timeout_s
        if scratch and not self.is_sqlite:
            raise ValueError("a scratch database is a SQLite one")
        kwargs: dict[str, Any] = {"echo": echo, "json_deserializer": _json_loads}
        self._writers: WriterQueue | None = None  # SQLite file: the queue of writing processes
        self._lock_wait_s = statement_timeout_s
        if self.is_sqlite:
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # aiosqlite with one thread hand-off per statement (store/sqlite_driver.py);
            # scratch: private to this process (no queue of writing processes), no thread at all
            kwargs.update(module=sqlite_module(inline=scratch))
            if not scratch and (file := make_url(url).database) and file != ":memory:" and not file.startswith("file:"):
                self._writers = WriterQueue(Path(file).with_name(Path(file).name + "-write"),
                                            on_timeout=lambda why: self.faults.failed(why, write=True))
        else:
            # Every call has a time limit: connecting (and waiting for a pooled connection) gives up
            # after timeout_s, a statement after statement_timeout_s; a frozen server is a 503, not a hang.
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True, pool_timeout=timeout_s,
                          connect_args={"timeout": timeout_s, "command_timeout": statement_timeout_s})
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            # A writer waits this long for another process's write transaction before giving up (503).
            event.listen(self.engine.sync_engine, "connect",
                         _scratch_pragmas if scratch else _sqlite_connect(int(statement_timeout_s * 1000)))
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        if scratch:
            # INSERT ... RETURNING of many rows in one statement, the ids matched to the rows by their
            # order: in one write transaction SQLite gives an INTEGER PRIMARY KEY max(id)+1 row by row.
            # (By default SQLAlchemy inserts such rows one statement each on SQLite.)
            self.engine.sync_engine.dialect.insertmanyvalues_implicit_sentinel = (
                InsertmanyvaluesSentinelOpts.ANY_AUTOINCREMENT)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self.faults = DbFaults()
        self._abandoned: set[asyncio.Future[Any]] = set()  # cancelled work still cleaning up

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a write transaction, committed on success, rolled back on error."""
        with _unavailable_when_down(self.faults, write=True):
            if self._write_lock is not None:
                async with self._write_lock, self._queued(), self.engine.connect() as conn:
                    await conn.execution_options(**{WRITE_OPTION: True})
                    async with conn.begin():
                        yield conn
            else:
                async with self.engine.begin() as conn:
                    yield conn

    @asynccontextmanager
    async def _queued(self) -> AsyncIterator[None]:
        """This process's turn among the processes writing the SQLite file (``store/sqlite_lock.py``)."""
        if self._writers is None:
            yield
            return
        async with self._writers.held(self._lock_wait_s):
            yield

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (its own short transaction)."""
        with _unavailable_when_down(self.faults, write=False):
            async with self.engine.connect() as conn:
                yield conn

    async def bounded(self, seconds: float, work: Awaitable[T], what: str = "the database") -> T:
        """Await ``work`` for at most ``seconds``; past that it is cancelled (its transaction rolls back,
        in the background: a frozen server can make even the clean-up wait) and Unavailable (-> 503)
        is raised at once instead of waiting for the server."""
        task = asyncio.ensure_future(work)
        try:
            done, _ = await asyncio.wait({task}, timeout=seconds)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            task.cancel()
            self._abandoned.add(task)
            task.add_done_callback(self._abandoned.discard)
            message = f"{what} did not answer within {seconds:g}s"
            self.faults.failed(message, write=False)
            raise Unavailable(message)
        return task.result()

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
        if self._writers is not None:
            self._writers.close()


@contextmanager
def _unavailable_when_down(faults: DbFaults, *, write: bool) -> Iterator[None]:
    """Turn "cannot reach the database" into Unavailable (-> 503); other database errors are bugs."""
    try:
        yield
    except DB_DOWN_ERRORS as exc:
        if isinstance(exc, DBAPIError) and not exc.connection_invalidated and not _is_connectivity(exc):
            raise
        message = f"database unavailable: {_short(exc)}"
        faults.failed(message, write=write)
        raise Unavailable(message) from exc


# Texts (lower case) and driver error classes that mean "the database cannot serve now", not a bug:
# unreachable, starting up or shutting down (PostgreSQL CannotConnectNow, AdminShutdown), disk full,
# I/O error, read-only file system, another process's write transaction held past busy_timeout (SQLite).
_DOWN_TEXTS = ("connect", "connection", "closed", "terminat", "unable to open", "timeout", "shutdown",
               "shutting down", "starting up", "refused", "disk is full", "disk i/o error", "readonly database",
               "read-only file system", "no space left", "recovery mode", "database is locked")
_DOWN_CLASSES = ("CannotConnectNowError", "AdminShutdownError", "CrashShutdownError", "ConnectionDoesNotExistError",
                 "InterfaceError", "DiskFullError", "TooManyConnectionsError", "QueryCanceledError")


def _is_connectivity(exc: DBAPIError) -> bool:
    orig = exc.orig if exc.orig is not None else exc
    if any(type(e).__name__ in _DOWN_CLASSES for e in (orig, orig.__cause__, orig.__context__) if e is not None):
        return True
    msg = str(orig).lower()
    return any(s in msg for s in _DOWN_TEXTS)


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: {str(orig).splitlines()[0] if str(orig) else ''}"
