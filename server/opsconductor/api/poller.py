"""``/api/v1/poller`` (jobs: last run, last error, next run) and ``/api/v1/addons``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import get, post
from litestar.datastructures import State
from litestar.params import FromPath

from opsconductor.errors import NotFound, Unavailable
from opsconductor.runtime import Runtime
from opsconductor.sources.service import SourcesService
from opsconductor.sources.target_store import set_addon_state


def _service(state: State) -> SourcesService:
    rt: Runtime = state.runtime
    svc = rt.sources
    if svc is None:
        raise Unavailable("the sources service is not installed")
    return svc


@get("/api/v1/poller", opt={"scope": "read"}, tags=["poller"])
async def poller_status(state: State) -> dict[str, Any]:
    """Is this process the leader; every (target, addon, source) job with its last and next run."""
    svc = _service(state)
    jobs = svc.poller.status() if svc.poller is not None else []
    return {
        "leader": svc.is_leader,
        "running": bool(svc.poller and svc.poller.running),
        "jobs": jobs,
        "errors": svc.errors,
    }


@post("/api/v1/poller/reload", opt={"scope": "admin"}, status_code=200, tags=["poller"])
async def poller_reload(state: State) -> dict[str, Any]:
    """Re-read addons, the inventory and targets now; errors are listed, the last good config stays."""
    report = await _service(state).reload()
    return {"addons": report.addons, "errors": report.errors, "targets": report.targets, "jobs": report.jobs}


@get("/api/v1/addons", opt={"scope": "read"}, tags=["poller"])
async def list_addons(state: State) -> dict[str, Any]:
    svc = _service(state)
    return {
        "addons": [
            {"name": m.name, "version": m.version, "description": m.description,
             "enabled": m.name not in svc.disabled,
             "sources": [{"name": s.name, "kind": s.kind} for s in m.sources],
             "targets": {"labels": {k: list(v) for k, v in m.labels.items()}}}
            for m in sorted(svc.addons.manifests.values(), key=lambda m: m.name)
        ],
        "errors": svc.errors,
    }


async def _set(state: State, name: str, enabled: bool) -> dict[str, Any]:
    svc = _service(state)
    if name not in svc.addons.manifests:
        raise NotFound(f"no addon named {name!r}")
    async with svc.rt.db.write() as conn:
        await set_addon_state(conn, name, enabled, datetime.now(UTC))
    await svc.reload()
    return {"name": name, "enabled": enabled}


@post("/api/v1/addons/{name:str}/enable", opt={"scope": "admin"}, status_code=200, tags=["poller"])
async def enable_addon(state: State, name: FromPath[str]) -> dict[str, Any]:
    return await _set(state, name, True)


@post("/api/v1/addons/{name:str}/disable", opt={"scope": "admin"}, status_code=200, tags=["poller"])
async def disable_addon(state: State, name: FromPath[str]) -> dict[str, Any]:
    return await _set(state, name, False)


ROUTES = [poller_status, poller_reload, list_addons, enable_addon, disable_addon]
