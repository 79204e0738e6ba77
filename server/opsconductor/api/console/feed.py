"""Live updates for the console: one cheap change probe per process, fanned out over SSE.

Any worker may have written the change (several uvicorn workers, the CLI, the engine),
so instead of listening to one process's transitions the feed polls a change token
made of indexed maxima (newest alert, newest last_seen, newest history row, newest
silence): a new alert, a duplicate, an ack, a note, a suppression or a silence moves one.
The probe runs only while at least one browser listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from litestar import Request, get
from litestar.response import ServerSentEvent, ServerSentEventMessage
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.correlate.state import SILENCES
from opsconductor.runtime import Runtime
from opsconductor.store.alert_writer import ALERTS, HISTORY

log = logging.getLogger(__name__)

POLL_S = 0.25  # a change reaches the browser well within 1 s
KEEPALIVE_S = 15.0
# Streams end after this long and the browser reconnects at once: a server shutting down
# never waits on an open stream for longer than this.
MAX_STREAM_S = 10.0

Token = tuple[Any, ...]


async def change_token(conn: AsyncConnection) -> Token:
    alerts = (await conn.execute(select(func.max(ALERTS.c.id), func.max(ALERTS.c.last_seen)))).one()
    history = (await conn.execute(select(func.max(HISTORY.c.id)))).scalar()
    silences = (await conn.execute(select(func.max(SILENCES.c.id)))).scalar()
    return (alerts[0], str(alerts[1]), history, silences)


class ChangeFeed:
    """A version number that moves when the change token does; waiters are woken on change."""

    def __init__(self, probe: Callable[[], Awaitable[Token]], interval: float = POLL_S) -> None:
        self._probe = probe
        self._interval = interval
        self._token: Token | None = None
        self.version = 0
        self.failing = False
        self._changed = asyncio.Event()
        self._listeners = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while self._listeners > 0:
            token: Token | None
            try:
                token = await self._probe()
                self.failing = False
            except Exception as exc:  # the database may be away; the browser shows "reconnecting"
                if not self.failing:
                    log.warning("console change probe failed: %s", exc)
                self.failing = True
                token = self._token
            if token != self._token:
                first = self._token is None
                self._token = token
                if not first:
                    self.version += 1
                    self._changed.set()
                    self._changed = asyncio.Event()
            await asyncio.sleep(self._interval)
        self._task = None

    @contextlib.asynccontextmanager
    async def listening(self) -> AsyncIterator[None]:
        self._listeners += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="console-change-feed")
        try:
            yield
        finally:
            self._listeners -= 1

    async def wait(self, seen: int, within: float) -> int:
        """The version once it differs from ``seen``, or ``seen`` after ``within`` seconds."""
        if self.version != seen:
            return self.version
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), within)
        return self.version

    async def close(self) -> None:
        self._listeners = 0
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def feed_of(request: Request[Any, Any, Any]) -> ChangeFeed:
    state = request.app.state
    feed: ChangeFeed | None = getattr(state, "console_feed", None)
    if feed is None:
        rt: Runtime = state.runtime

        async def probe() -> Token:
            async with rt.db.read() as conn:
                return await change_token(conn)

        feed = ChangeFeed(probe)
        state.console_feed = feed
    return feed


async def _events(feed: ChangeFeed) -> AsyncIterator[ServerSentEventMessage]:
    async with feed.listening():
        version = feed.version
        yield ServerSentEventMessage(event="hello", data=str(version), retry=250)
        deadline = time.monotonic() + MAX_STREAM_S
        while (left := deadline - time.monotonic()) > 0:
            new = await feed.wait(version, min(KEEPALIVE_S, left))
            if feed.failing:  # the page shows it is not live rather than a silently stale list
                yield ServerSentEventMessage(event="trouble", data="the database does not answer; retrying")
            if new != version:
                version = new
                yield ServerSentEventMessage(event="change", data=str(version))
            elif not feed.failing:
                yield ServerSentEventMessage(comment="keep-alive")


@get("/console/stream", opt={"scope": "read"}, include_in_schema=False)
async def stream(request: Request[Any, Any, Any]) -> ServerSentEvent:
    """``change`` events whenever any alert changes; the page then re-fetches what it shows."""
    return ServerSentEvent(_events(feed_of(request)), headers={"Cache-Control": "no-store",
                                                               "X-Accel-Buffering": "no"})
