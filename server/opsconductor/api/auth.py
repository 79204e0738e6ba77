"""Bearer API-key (or console session) authentication and the scope each handler needs.

Handlers declare the scope they need with ``opt={"scope": "write"}``; handlers
with ``opt={"public": True}`` (health, readiness, metrics) need no key.
"""

from __future__ import annotations

import time
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from opsconductor.api.console.session import COOKIE, cookie_principal
from opsconductor.errors import AuthError, Forbidden
from opsconductor.runtime import Runtime
from opsconductor.store.api_keys import Principal, Scope, lookup

_CACHE_TTL_S = 5.0  # a revoked key stops working within this long on every process


class KeyCache:
    """Short-lived cache of key hash -> principal, so a request does not always hit the DB."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    async def principal(self, rt: Runtime, key: str) -> Principal | None:
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit and hit[0] > now:
            return hit[1]
        async with rt.db.read() as conn:
            p = await lookup(conn, key)
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key] = (now + _CACHE_TTL_S, p)
        return p

    def clear(self) -> None:
        self._entries.clear()


class ApiKeyMiddleware(AbstractAuthenticationMiddleware):
    """Who is calling (API key, or the console's session cookie), and whether the key's scope
    allows the handler. The scope is checked here rather than by a Litestar guard: a guard is
    handed a copy of the route handler on every request, which cost more than the rest of
    authentication together."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        handler = connection.scope.get("route_handler")
        if handler is not None and handler.opt.get("public"):
            return AuthenticationResult(user=None, auth=None)
        header = connection.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if not header and COOKIE in connection.cookies:  # the console: a signed session cookie instead
            user = await cookie_principal(connection, time.time())
            check_scope(connection, handler, user)
            return AuthenticationResult(user=user, auth=None)
        if scheme.lower() != "bearer" or not key.strip():
            raise AuthError("missing API key: send 'Authorization: Bearer <key>'")
        rt: Runtime = connection.app.state.runtime
        cache: KeyCache = connection.app.state.key_cache
        principal = await cache.principal(rt, key.strip())
        if principal is None:
            raise AuthError("invalid or revoked API key")
        check_scope(connection, handler, principal)
        return AuthenticationResult(user=principal, auth=key)


OPENAPI_PREFIX = "/schema"


def check_scope(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler | None,
                user: Principal | None) -> None:
    """Refuse a caller whose key's scope does not allow the handler (``opt={"scope": ...}``,
    read by default)."""
    # The OpenAPI document is public, like Alertmanager's and Alerta's API docs.
    if handler is None or handler.opt.get("public") or connection.url.path.startswith(OPENAPI_PREFIX):
        return
    needed = Scope(handler.opt.get("scope", "read"))
    if not isinstance(user, Principal):
        raise AuthError("missing API key")
    if not user.scope.allows(needed):
        raise Forbidden(f"API key {user.name!r} has scope {user.scope.value}; this needs {needed.value}")
