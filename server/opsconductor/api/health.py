"""Liveness, readiness and metrics: no API key needed."""

from __future__ import annotations

from litestar import MediaType, Response, get
from litestar.datastructures import State

from opsconductor.errors import Unavailable
from opsconductor.runtime import Runtime


@get("/healthz", opt={"public": True}, media_type=MediaType.JSON, tags=["health"])
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@get("/readyz", opt={"public": True}, media_type=MediaType.JSON, tags=["health"])
async def readyz(state: State) -> Response[dict[str, str]]:
    """The database is reachable and its schema is current."""
    rt: Runtime = state.runtime
    try:
        await rt.check_ready()
    except Unavailable as exc:
        return Response({"status": "unavailable", "detail": str(exc)}, status_code=503)
    return Response({"status": "ready"})


@get("/metrics", opt={"public": True}, tags=["health"], include_in_schema=False)
async def metrics(state: State) -> Response[bytes]:
    """Prometheus text exposition."""
    rt: Runtime = state.runtime
    return Response(rt.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


ROUTES = [healthz, readyz, metrics]
