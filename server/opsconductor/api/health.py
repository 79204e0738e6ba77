"""Liveness, readiness and metrics: no API key needed."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Response, get
from litestar.datastructures import State

from opsconductor.errors import Unavailable
from opsconductor.health.selfmon import SelfMonitor
from opsconductor.runtime import Runtime


@get("/healthz", opt={"public": True}, media_type=MediaType.JSON, tags=["health"])
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@get("/readyz", opt={"public": True}, media_type=MediaType.JSON, tags=["health"])
async def readyz(state: State) -> Response[dict[str, Any]]:
    """Ready: the database answers (within ``readyz_timeout_s``) with a current schema and takes writes,
    events are being processed (none waits longer than ``selfmon_stall_s``), configured listeners are bound."""
    rt: Runtime = state.runtime
    reasons: list[str] = []
    try:
        await rt.db.bounded(rt.settings.readyz_timeout_s, rt.check_ready())
    except Unavailable as exc:
        reasons.append(str(exc))
    mon = rt.components.get("selfmon")
    if isinstance(mon, SelfMonitor):
        reasons += mon.not_ready()
    if reasons:
        return Response({"status": "unavailable", "detail": "; ".join(reasons), "reasons": reasons},
                        status_code=503, headers={"Retry-After": "5"})
    return Response({"status": "ready"})


@get("/metrics", opt={"public": True}, tags=["health"], include_in_schema=False)
async def metrics(state: State) -> Response[bytes]:
    """Prometheus text exposition."""
    rt: Runtime = state.runtime
    return Response(rt.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


ROUTES = [healthz, readyz, metrics]
