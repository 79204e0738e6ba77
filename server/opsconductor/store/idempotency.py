"""Idempotency keys of the intake endpoints: a retried request gets the first answer.

A request's key is stored in the same transaction as its events (so "stored" and "key
remembered" cannot disagree), then the answer is added. The stored key is a SHA-256 of the
endpoint, the caller's API key name and the client's key: clients cannot see or collide
with each other's keys. Keys expire after ``idempotency_ttl_s``.

With several server processes on one database (``workers > 1``, PostgreSQL nodes) a request
first *claims* its key in a short transaction of its own (a row with ``status_code`` 102), so a
concurrent duplicate sent to another process finds the claim and gets a 409, as one sent to the
same process does; the accepting transaction turns the claim into the answer.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.store.safety_tables import IDEMPOTENCY


def scoped_key(method: str, path: str, principal: str, client_key: str) -> str:
    return hashlib.sha256("\0".join((method, path, principal, client_key)).encode()).hexdigest()


def request_hash(query: str, body: bytes) -> str:
    return hashlib.sha256(query.encode() + b"\0" + body).hexdigest()


async def lookup(conn: AsyncConnection, key: str, not_before: datetime) -> dict[str, Any] | None:
    row = (await conn.execute(select(IDEMPOTENCY).where(IDEMPOTENCY.c.key == key,
                                                        IDEMPOTENCY.c.created_at >= not_before))).mappings().first()
    return dict(row) if row is not None else None


PENDING = 102
"""``status_code`` of a claimed key whose request is still running (HTTP 102 Processing)."""


def _insert(conn: AsyncConnection) -> Any:
    return pg_insert(IDEMPOTENCY) if conn.dialect.name == "postgresql" else sqlite_insert(IDEMPOTENCY)


async def claim(conn: AsyncConnection, key: str, req_hash: str, now: datetime, not_before: datetime,
                abandoned_before: datetime) -> bool:
    """Claim the key for a request about to run (several server processes): False if another
    process holds or used it (the caller looks it up again). A key left over from an expired use,
    or a claim whose request died (older than ``abandoned_before``), is taken over."""
    await _drop_stale(conn, key, not_before, abandoned_before)
    values = {"key": key, "request_hash": req_hash, "event_ids": [], "status_code": PENDING, "created_at": now}
    result = await conn.execute(_insert(conn).values(**values).on_conflict_do_nothing(index_elements=["key"]))
    return bool(result.rowcount)


async def _drop_stale(conn: AsyncConnection, key: str, not_before: datetime, abandoned_before: datetime) -> None:
    await conn.execute(delete(IDEMPOTENCY).where(
        IDEMPOTENCY.c.key == key,
        or_(IDEMPOTENCY.c.created_at < not_before,
            and_(IDEMPOTENCY.c.status_code == PENDING, IDEMPOTENCY.c.created_at < abandoned_before))))


def is_abandoned(row: dict[str, Any], abandoned_before: datetime) -> bool:
    """A claim whose request died: it no longer holds the key."""
    return bool(row["status_code"] == PENDING and row["created_at"] < abandoned_before)


async def release(conn: AsyncConnection, key: str, claimed_at: datetime) -> None:
    """Drop this request's claim: it stored nothing, a retry may run."""
    await conn.execute(delete(IDEMPOTENCY).where(IDEMPOTENCY.c.key == key, IDEMPOTENCY.c.status_code == PENDING,
                                                 IDEMPOTENCY.c.created_at == claimed_at))


async def remember(conn: AsyncConnection, key: str, req_hash: str, ids: list[int], now: datetime,
                   not_before: datetime, abandoned_before: datetime) -> None:
    """Record the key with its events' ids (inside the transaction that stores them): this
    request's claim becomes the answer; without one, a key left over from an expired use is
    replaced and one another server process just stored wins."""
    done = await conn.execute(update(IDEMPOTENCY).where(
        IDEMPOTENCY.c.key == key, IDEMPOTENCY.c.status_code == PENDING, IDEMPOTENCY.c.created_at == now,
    ).values(event_ids=ids, status_code=None))
    if done.rowcount:
        return
    await _drop_stale(conn, key, not_before, abandoned_before)
    values = {"key": key, "request_hash": req_hash, "event_ids": ids, "created_at": now}
    await conn.execute(_insert(conn).values(**values).on_conflict_do_nothing(index_elements=["key"]))


async def store_response(conn: AsyncConnection, key: str, status_code: int, body: Any) -> None:
    await conn.execute(update(IDEMPOTENCY).where(IDEMPOTENCY.c.key == key).values(status_code=status_code,
                                                                                   response=body))


async def purge(conn: AsyncConnection, older_than: datetime) -> int:
    return int((await conn.execute(delete(IDEMPOTENCY).where(IDEMPOTENCY.c.created_at < older_than))).rowcount or 0)


