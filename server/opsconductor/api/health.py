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


@get("/healthz", opt={"public": True}, media_type=MediaType.JSON, tags=["health"], security=PUBLIC_SECURITY,
     responses=errors(public=True))
async def healthz() -> Health:
    """The process is up."""
    return Health("ok")


@get("/readyz", opt={"public": True}, media_type=MediaType.JSON, tags=["health"], security=PUBLIC_SECURITY,
     responses={**errors(public=True), 503: ResponseSpec(Health, description="Not ready: detail says why")})
async def readyz(state: State) -> Response[Health]:
    """The database is reachable and its schema is current."""
    rt: Runtime = state.runtime
    try:
        await rt.check_ready()
    except Unavailable as exc:
        return Response(Health("unavailable", str(exc)), status_code=503)
    return Response(Health("ready"))


@get("/metrics", opt={"public": True}, tags=["health"], include_in_schema=False)
async def metrics(state: State) -> Response[bytes]:
    """Prometheus text exposition."""
    rt: Runtime = state.runtime
    return Response(rt.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


ROUTES = [healthz, readyz, metrics]
