"""The ``Idempotency-Key`` request header of the intake endpoints (events, Alertmanager, webhooks).

A retry with the same key (same endpoint, same API key) gets the first answer again, marked
``Idempotent-Replayed: true``, and stores nothing; the same key with a different request is a
422; a second request with a key whose first is still running is a 409. Requests without the
header work as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any, NoReturn

import msgspec
from litestar import Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.errors import Conflict, FieldProblem, InputError, Unavailable, ValidationFailed
from opsconductor.pipeline import InTxn
from opsconductor.runtime import Runtime
from opsconductor.store import idempotency as store

HEADER = "idempotency-key"
KEY_MAX = 255


class InFlight:
    """Keys whose first request is running in this process."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    @contextlib.contextmanager
    def hold(self, key: str) -> Any:
        if key in self.keys:
            _running()
        self.keys.add(key)
        try:
            yield
        finally:
            self.keys.discard(key)


def _in_flight(request: Request[Any, Any, Any]) -> InFlight:
    state = request.app.state
    found = getattr(state, "idempotency", None)
    if not isinstance(found, InFlight):
        found = state.idempotency = InFlight()
    return found


def client_key(request: Request[Any, Any, Any]) -> str | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > KEY_MAX or not key.isprintable():
        raise InputError(f"Idempotency-Key must be 1 to {KEY_MAX} printable characters")
    return key


async def idempotent(request: Request[Any, Any, Any], rt: Runtime,
                     handle: Callable[[InTxn | None], Awaitable[Response[Any]]]) -> Response[Any]:
    """Run ``handle`` once per Idempotency-Key; ``handle`` passes the given hook to ``Pipeline.accept``."""
    ck = client_key(request)
    if ck is None:
        return await handle(None)
    user = request.scope.get("user")
    key = store.scoped_key(request.method, request.url.path, getattr(user, "name", ""), ck)
    req_hash = store.request_hash(request.url.query or "", await request.body())
    with _in_flight(request).hold(key):
        now = rt.pipeline.clock()
        not_before = now - timedelta(seconds=rt.settings.idempotency_ttl_s)
        # a claim older than the longest a request can run belongs to a request that died
        abandoned = now - timedelta(seconds=rt.settings.wait_timeout_s + 4 * rt.settings.db_timeout_s + 30)
        async with rt.db.read() as conn:
            row = await store.lookup(conn, key, not_before)
        if row is not None and not store.is_abandoned(row, abandoned):
            return _replay(row, req_hash)
        claimed = rt.pipeline.shared  # other processes may run the same key: claim it in the database
        if claimed:
            async with _bounded_write(rt) as conn:
                mine = await store.claim(conn, key, req_hash, now, not_before, abandoned)
            if not mine:
                async with rt.db.read() as conn:
                    row = await store.lookup(conn, key, not_before)
                return _replay(row, req_hash) if row is not None else _running()
        stored: list[int] = []

        async def in_txn(conn: AsyncConnection, ids: list[int]) -> None:
            await store.remember(conn, key, req_hash, ids, now, not_before, abandoned)
            stored.append(len(ids))

        try:
            response = await handle(in_txn)
        finally:
            if claimed and not stored:  # nothing stored: free the key for a retry
                with contextlib.suppress(Unavailable, TimeoutError):  # else it is taken over once abandoned
                    async with _bounded_write(rt) as conn:
                        await store.release(conn, key, now)
        if stored:
            with contextlib.suppress(Unavailable, TimeoutError):  # ids are kept already: a replay rebuilds the answer
                async with _bounded_write(rt) as conn:
                    await store.store_response(conn, key, response.status_code or 200,
                                              msgspec.to_builtins(response.content))
        return response


def _running() -> NoReturn:
    raise Conflict("a request with this Idempotency-Key is still being processed; retry later")


@contextlib.asynccontextmanager
async def _bounded_write(rt: Runtime) -> AsyncIterator[AsyncConnection]:
    async with asyncio.timeout(rt.settings.db_timeout_s), rt.db.write() as conn:
        yield conn


def _replay(row: dict[str, Any], req_hash: str) -> Response[Any]:
    if row["status_code"] == store.PENDING and row["request_hash"] == req_hash:
        _running()  # claimed by the same request running in another process
    if row["request_hash"] != req_hash:
        raise ValidationFailed("this Idempotency-Key was used with a different request",
                               [FieldProblem("Idempotency-Key", "already used with another body or query")])
    headers = {"Idempotent-Replayed": "true"}
    if row["response"] is not None and row["status_code"] is not None:
        return Response(row["response"], status_code=int(row["status_code"]), headers=headers)
    ids = list(row["event_ids"])
    return Response({"accepted": len(ids), "ids": ids}, status_code=202, headers=headers)
