"""Idempotency keys of the intake endpoints: a retried request gets the first answer.

A request's key is stored in the same transaction as its events (so "stored" and "key
remembered" cannot disagree), then the answer is added. The stored key is a SHA-256 of the
endpoint, the caller's API key name and the client's key: clients cannot see or collide
with each other's keys. Keys expire after ``idempotency_ttl_s``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
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


async def remember(conn: AsyncConnection, key: str, req_hash: str, ids: list[int], now: datetime) -> None:
    """Record the key with its events' ids (inside the transaction that stores them). A key left
    over from an expired use is replaced; one another server process just stored wins."""
    await conn.execute(delete(IDEMPOTENCY).where(IDEMPOTENCY.c.key == key, IDEMPOTENCY.c.created_at < now))
    values = {"key": key, "request_hash": req_hash, "event_ids": ids, "created_at": now}
    stmt = (pg_insert(IDEMPOTENCY) if conn.dialect.name == "postgresql" else sqlite_insert(IDEMPOTENCY))
    await conn.execute(stmt.values(**values).on_conflict_do_nothing(index_elements=["key"]))


async def store_response(conn: AsyncConnection, key: str, status_code: int, body: Any) -> None:
    await conn.execute(update(IDEMPOTENCY).where(IDEMPOTENCY.c.key == key).values(status_code=status_code,
                                                                                   response=body))


async def purge(conn: AsyncConnection, older_than: datetime) -> int:
    return int((await conn.execute(delete(IDEMPOTENCY).where(IDEMPOTENCY.c.created_at < older_than))).rowcount or 0)


