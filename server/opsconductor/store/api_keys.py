"""API keys: created once (shown once), stored as SHA-256, scoped read < write < admin."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.errors import Conflict, NotFound
from opsconductor.store.tables import ApiKey

KEYS = ApiKey.__table__  # type: ignore[attr-defined]
KEY_PREFIX = "opsc_"


class Scope(StrEnum):
    read = "read"
    write = "write"
    admin = "admin"

    def allows(self, needed: Scope) -> bool:
        order = [Scope.read, Scope.write, Scope.admin]
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the API key's name (the actor in history) and its scope."""

    name: str
    scope: Scope


def hash_key(key: str) -> str:
    # Keys are 256-bit random tokens, so a plain SHA-256 is enough (no dictionary to attack).
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create_key(conn: AsyncConnection, name: str, scope: Scope, now: datetime, *, key: str | None = None) -> str:
    """Create a key and return it in clear (the only time it is visible)."""
    key = key or new_key()
    try:
        await conn.execute(insert(KEYS).values(name=name, prefix=key[:9], key_hash=hash_key(key),
                                               scope=scope.value, created_at=now))
    except IntegrityError:
        raise Conflict(f"an API key named {name!r} already exists") from None
    return key


async def lookup(conn: AsyncConnection, key: str) -> Principal | None:
    row = (await conn.execute(
        select(KEYS.c.name, KEYS.c.scope).where(KEYS.c.key_hash == hash_key(key), KEYS.c.revoked_at.is_(None))
    )).first()
    return Principal(row.name, Scope(row.scope)) if row else None


async def list_keys(conn: AsyncConnection) -> list[dict[str, object]]:
    rows = (await conn.execute(select(KEYS.c.name, KEYS.c.prefix, KEYS.c.scope, KEYS.c.created_at,
                                      KEYS.c.revoked_at).order_by(KEYS.c.id))).mappings()
    return [dict(r) for r in rows]


async def revoke_key(conn: AsyncConnection, name: str, now: datetime) -> None:
    result = await conn.execute(update(KEYS).where(KEYS.c.name == name, KEYS.c.revoked_at.is_(None))
                                .values(revoked_at=now))
    if result.rowcount == 0:
        raise NotFound(f"no active API key named {name!r}")


async def any_key(conn: AsyncConnection) -> bool:
    return (await conn.execute(select(KEYS.c.id).limit(1))).first() is not None
