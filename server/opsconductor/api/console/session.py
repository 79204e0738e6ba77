"""Console sessions: an API key signs in once and becomes a signed, HttpOnly cookie.

The cookie is ``v1.<key id>.<expiry>.<mac>`` where the MAC is keyed by the stored
SHA-256 of the API key. So every worker process can check it without a shared
secret, the key itself never travels again, and revoking the key ends its sessions.
Actions sent with the cookie must also carry ``X-CSRF-Token`` (derived the same way):
another site can neither read that token nor send the header (no CORS origins).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.errors import AuthError, Forbidden
from opsconductor.store.api_keys import KEYS, Principal, Scope, hash_key

COOKIE = "opsc_session"
CSRF_HEADER = "x-csrf-token"
SESSION_S = 12 * 3600  # one NOC shift
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True, slots=True)
class Session:
    principal: Principal
    key_id: int
    expires: int
    csrf: str


def _mac(key_hash: str, purpose: str, key_id: int, expires: int) -> str:
    msg = f"{purpose}:{key_id}:{expires}".encode()
    return hmac.new(key_hash.encode(), msg, hashlib.sha256).hexdigest()


def make_cookie(key_id: int, key_hash: str, now: float) -> tuple[str, int]:
    """Pure: the cookie value for a key and its expiry (unix seconds)."""
    expires = int(now) + SESSION_S
    return f"v1.{key_id}.{expires}.{_mac(key_hash, 'session', key_id, expires)}", expires


def parse_cookie(value: str) -> tuple[int, int, str] | None:
    """Pure: (key id, expiry, mac) of a well-formed cookie, else None."""
    parts = value.split(".")
    if len(parts) != 4 or parts[0] != "v1" or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return int(parts[1]), int(parts[2]), parts[3]


def verify(value: str, key_hash: str, now: float) -> tuple[int, int] | None:
    """Pure: (key id, expiry) if the cookie was made for this key hash and has not expired."""
    parsed = parse_cookie(value)
    if parsed is None:
        return None
    key_id, expires, mac = parsed
    if expires <= now or not hmac.compare_digest(mac, _mac(key_hash, "session", key_id, expires)):
        return None
    return key_id, expires


def csrf_token(key_hash: str, key_id: int, expires: int) -> str:
    return _mac(key_hash, "csrf", key_id, expires)


async def key_by_secret(conn: AsyncConnection, key: str) -> tuple[int, str, Principal] | None:
    """The active key row for a key given in clear: (id, hash, principal)."""
    row = (await conn.execute(select(KEYS.c.id, KEYS.c.key_hash, KEYS.c.name, KEYS.c.scope).where(
        KEYS.c.key_hash == hash_key(key), KEYS.c.revoked_at.is_(None)))).first()
    return (row.id, row.key_hash, Principal(row.name, Scope(row.scope))) if row else None


async def session_from_cookie(conn: AsyncConnection, value: str, now: float) -> Session | None:
    parsed = parse_cookie(value)
    if parsed is None:
        return None
    row = (await conn.execute(select(KEYS.c.key_hash, KEYS.c.name, KEYS.c.scope).where(
        KEYS.c.id == parsed[0], KEYS.c.revoked_at.is_(None)))).first()
    if row is None or verify(value, row.key_hash, now) is None:
        return None
    key_id, expires = parsed[0], parsed[1]
    return Session(Principal(row.name, Scope(row.scope)), key_id, expires, csrf_token(row.key_hash, key_id, expires))


async def current_session(connection: ASGIConnection[Any, Any, Any, Any], now: float) -> Session | None:
    """The console session of a request, if its cookie is valid (cached on the request scope)."""
    cached = connection.scope.get("state", {}).get("console_session")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    value = connection.cookies.get(COOKIE)
    if not value:
        return None
    async with connection.app.state.runtime.db.read() as conn:
        session = await session_from_cookie(conn, value, now)
    if session is not None:
        connection.scope.setdefault("state", {})["console_session"] = session
    return session


async def cookie_principal(connection: ASGIConnection[Any, Any, Any, Any], now: float) -> Principal:
    """For the API's auth layer: the principal of a session cookie; actions need the CSRF header."""
    session = await current_session(connection, now)
    if session is None:
        raise AuthError("session expired or signed out: sign in again")
    if connection.scope.get("method", "GET") not in SAFE_METHODS:
        sent = connection.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent, session.csrf):
            raise Forbidden("missing or wrong X-CSRF-Token: actions sent with the session cookie need it")
    return session.principal
