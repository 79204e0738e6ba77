"""The Litestar application factory. Nothing starts at import time."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send

from opsconductor.api import alerts, events, health
from opsconductor.api.auth import ApiKeyMiddleware, KeyCache
from opsconductor.api.console.docs import render_plugins
from opsconductor.api.contract import finish_document, openapi_config
from opsconductor.api.params import screen_request
from opsconductor.api.problems import EXCEPTION_HANDLERS
from opsconductor.config.settings import Settings
from opsconductor.plugins import build_runtime
from opsconductor.runtime import Runtime

log = logging.getLogger(__name__)

PUBLIC_PATHS = ["/healthz", "/readyz", "/metrics", "/schema"]


def _route_modules() -> list[Any]:
    """Every route handler; later stages append their module's ROUTES here."""
    from opsconductor.api.routes import extra_routes

    return [*health.ROUTES, *events.ROUTES, *alerts.ROUTES, *extra_routes()]


def _latency_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            handler = scope.get("route_handler")
            route = getattr(handler, "paths", None)
            route_name = sorted(route)[0] if route else "unmatched"
            rt: Runtime | None = getattr(scope["app"].state, "runtime", None)
            if rt is not None:
                http_scope: HTTPScope = scope  # type: ignore[assignment]
                rt.metrics.request_latency.labels(http_scope["method"], route_name, str(status["code"])).observe(
                    time.perf_counter() - start
                )

    return middleware


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Litestar:
    """Build the app; the runtime (database, pipeline, background tasks) lives in its lifespan."""
    settings = settings or (runtime.settings if runtime else Settings())

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        rt = runtime or build_runtime(settings)
        app.state.runtime = rt
        app.state.key_cache = KeyCache()
        app.state.started_at = datetime.now(UTC)  # Alertmanager's /api/v2/status uptime
        await rt.start()
        try:
            yield
        finally:
            await rt.stop()

    app = Litestar(
        route_handlers=_route_modules(),
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=screen_request,
        middleware=[
            _latency_middleware,
            DefineMiddleware(ApiKeyMiddleware, exclude=PUBLIC_PATHS),
        ],
        state=State({}),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=openapi_config("/schema", render_plugins()),  # Swagger UI from local assets
        cors_config=CORSConfig(allow_origins=[]),
        debug=os.environ.get("OPSCONDUCTOR_DEBUG") == "1",
    )
    finish_document(app)
    return app
