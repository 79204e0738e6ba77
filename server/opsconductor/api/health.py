"""Liveness, readiness and metrics: no API key needed."""

from __future__ import annotations

import msgspec
from litestar import MediaType, Response, get
from litestar.datastructures import State
from litestar.openapi import ResponseSpec

from opsconductor.api.contract import PUBLIC_SECURITY, errors
from opsconductor.errors import Unavailable
from opsconductor.runtime import Runtime


class Health(msgspec.Struct, omit_defaults=True):
    status: str
    detail: str | None = None
    reasons: list[str] | None = None  # when not ready: each reason on its own


@get("/healthz", opt={"public": True}, media_type=MediaType.JSON, tags=["health"], security=PUBLIC_SECURITY,
     responses=errors(public=True))
async def healthz() -> Health:
    """The process is up."""
    return Health("ok")


@get("/readyz", opt={"public": True}, media_type=MediaType.JSON, tags=["health"], security=PUBLIC_SECURITY,
     responses={**errors(public=True), 503: ResponseSpec(Health, description="Not ready: detail says why")})
async def readyz(state: State) -> Response[Health]:
    """Ready: the database answers (within ``readyz_timeout_s``) with a current schema and takes writes,
    events are being processed (none waits longer than ``selfmon_stall_s``), configured listeners are bound."""
    rt: Runtime = state.runtime
    reasons: list[str] = []
    try:
        await rt.db.bounded(rt.settings.readyz_timeout_s, rt.check_ready())
    except Unavailable as exc:
        reasons.append(str(exc))
    if rt.selfmon is not None:
        reasons += rt.selfmon.not_ready()
    if reasons:
        return Response(Health("unavailable", "; ".join(reasons), reasons), status_code=503,
                        headers={"Retry-After": "5"})
    return Response(Health("ready"))


@get("/metrics", opt={"public": True}, tags=["health"], include_in_schema=False)
async def metrics(state: State) -> Response[bytes]:
    """Prometheus text exposition."""
    rt: Runtime = state.runtime
    return Response(rt.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


ROUTES = [healthz, readyz, metrics]
