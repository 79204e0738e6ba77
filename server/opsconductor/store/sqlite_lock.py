"""The writers' queue of an SQLite file shared by several processes (``serve --workers N``).

SQLite itself lets one writer in at a time, and a writer that finds the file locked polls:
its busy handler sleeps 1, 2, 5 ... 100 ms between tries. A process that writes again as soon
as it committed (the processor draining a backlog, the notify worker) wins nearly every time
against such a poller, and the other process's intake starves into 503s. So before ``BEGIN
IMMEDIATE`` a writer takes an exclusive ``flock`` on ``<database file>-write``: a waiting
process sleeps in the kernel and is woken the moment the lock is released, and takes its turn.
SQLite's own lock (and busy_timeout) still guards against writers that do not queue here
(the sqlite3 shell, older versions).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from opsconductor.errors import Unavailable


class _Attempt:
    """One wait for the lock; abandoned when the waiter gives up (then whoever gets it lets it go)."""

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.abandoned = False
        self.got = False


class WriterQueue:
    """Exclusive flock on a file next to the database, waited for in this queue's own (daemon) thread:
    waits and releases never overlap, and a wait that never ends cannot hold up the process's exit.

    One writer of this process at a time uses it (the caller holds its asyncio write lock)."""

    def __init__(self, path: Path, on_timeout: Callable[[str], None] = lambda why: None):
        self.path = path
        self.on_timeout = on_timeout
        self._fd: int | None = None
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] | None = None
        self._holding: queue.SimpleQueue[Callable[[], None] | None] | None = None  # the queue of a held lock

    def _start(self) -> tuple[int, queue.SimpleQueue[Callable[[], None] | None]]:
        if self._fd is None or self._jobs is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._jobs = queue.SimpleQueue()
            threading.Thread(target=self._serve, args=(self._fd, self._jobs), daemon=True,
                             name="opsconductor-sqlite-writer").start()
        return self._fd, self._jobs

    @staticmethod
    def _serve(fd: int, jobs: queue.SimpleQueue[Callable[[], None] | None]) -> None:
        while (job := jobs.get()) is not None:
            job()
        os.close(fd)  # after every wait ended (releases the lock if an abandoned wait still got it)

    @contextlib.asynccontextmanager
    async def held(self, timeout_s: float) -> AsyncIterator[None]:
        """Hold the lock for the block; Unavailable if another process held it for ``timeout_s``."""
        fd, jobs = self._start()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        attempt = _Attempt()

        def done(f: asyncio.Future[None] = fut) -> None:
            if not f.done():
                f.set_result(None)

        def wait() -> None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with attempt.mutex:
                if attempt.abandoned:  # the waiter is gone: pass the turn on
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    return
                attempt.got = True
            with contextlib.suppress(RuntimeError):  # the loop may be gone
                loop.call_soon_threadsafe(done)

        def give_up() -> None:
            with attempt.mutex:
                attempt.abandoned = not attempt.got
            if attempt.got:  # it came just now: hand it back
                fcntl.flock(fd, fcntl.LOCK_UN)

        jobs.put(wait)
        # asyncio.wait, not wait_for: wait_for (3.11) returns the result when the future completes just as
        # the waiting task is cancelled, and the cancellation is lost (a stopped processor kept running).
        try:
            finished, _ = await asyncio.wait({fut}, timeout=timeout_s)
        except BaseException:  # cancelled while waiting
            give_up()
            raise
        if not finished:
            give_up()
            why = f"database is locked: another process held the write lock for {timeout_s:g}s"
            self.on_timeout(why)
            raise Unavailable(why)
        self._holding = jobs
        try:
            yield
        finally:
            self._holding = None
            fcntl.flock(fd, fcntl.LOCK_UN)
            if jobs is not self._jobs:  # closed meanwhile: now the thread may close the file
                jobs.put(None)

    def close(self) -> None:
        """Let the file go (a later write opens it again); held, once it is released."""
        if self._jobs is not None:
            if self._holding is not self._jobs:
                self._jobs.put(None)  # the thread closes the file once the waits before it ended
            self._jobs, self._fd = None, None
