"""``/api/v1/poller`` (jobs: last run, last error, next run) and ``/api/v1/addons``."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import msgspec
from litestar import get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from opsconductor.api.contract import NoBody, errors
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


class PollJob(msgspec.Struct):
    """One (target, addon, source) job; times are RFC 3339."""

    id: str
    target: str
    addon: str
    source: str
    kind: str
    interval_s: float
    runs: int
    failures: int
    events: int
    skipped: int
    last_run: str | None
    last_ok: str | None
    last_duration_s: float | None
    last_error: str | None
    next_run: str | None


class PollerStatus(msgspec.Struct):
    leader: bool
    pid: int  # the server process that answered (several workers: each has its own state)
    running: bool
    jobs: list[PollJob]
    errors: list[str]


class ReloadReport(msgspec.Struct):
    addons: list[str]
    errors: list[str]
    targets: int
    jobs: int


class AddonSource(msgspec.Struct):
    name: str
    kind: str


class AddonTargets(msgspec.Struct):
    labels: dict[str, list[str]]


class AddonView(msgspec.Struct):
    name: str
    version: str
    description: str | None
    enabled: bool
    sources: list[AddonSource]
    targets: AddonTargets


class AddonList(msgspec.Struct):
    addons: list[AddonView]
    errors: list[str]


class AddonState(msgspec.Struct):
    name: str
    enabled: bool


@get("/api/v1/poller", opt={"scope": "read"}, tags=["poller"], responses=errors())
async def poller_status(state: State) -> PollerStatus:
    """Is this process the leader; every (target, addon, source) job with its last and next run."""
    svc = _service(state)
    jobs = svc.poller.status() if svc.poller is not None else []
    return PollerStatus(leader=svc.is_leader, pid=os.getpid(), running=bool(svc.poller and svc.poller.running),
                        jobs=msgspec.convert(jobs, list[PollJob]), errors=list(svc.errors))


@post("/api/v1/poller/reload", opt={"scope": "admin"}, status_code=200, tags=["poller"], responses=errors())
async def poller_reload(state: State, data: JSONBody[NoBody | None] = None) -> ReloadReport:
    """Re-read addons, the inventory and targets now; errors are listed, the last good config stays."""
    report = await _service(state).reload()
    return ReloadReport(list(report.addons), list(report.errors), report.targets, report.jobs)


@get("/api/v1/addons", opt={"scope": "read"}, tags=["poller"], responses=errors())
async def list_addons(state: State) -> AddonList:
    svc = _service(state)
    return AddonList(
        addons=[
            AddonView(name=m.name, version=str(m.version), description=m.description,
                      enabled=m.name not in svc.disabled,
                      sources=[AddonSource(s.name, s.kind) for s in m.sources],
                      targets=AddonTargets({k: list(v) for k, v in m.labels.items()}))
            for m in sorted(svc.addons.manifests.values(), key=lambda m: m.name)
        ],
        errors=list(svc.errors),
    )


async def _set(state: State, name: str, enabled: bool) -> AddonState:
    svc = _service(state)
    if name not in svc.addons.manifests:
        raise NotFound(f"no addon named {name!r}")
    async with svc.rt.db.write() as conn:
        await set_addon_state(conn, name, enabled, datetime.now(UTC))
    await svc.reload()
    return AddonState(name, enabled)


@post("/api/v1/addons/{name:str}/enable", opt={"scope": "admin"}, status_code=200, tags=["poller"],
      responses=errors(404))
async def enable_addon(state: State, name: FromPath[str], data: JSONBody[NoBody | None] = None) -> AddonState:
    return await _set(state, name, True)


@post("/api/v1/addons/{name:str}/disable", opt={"scope": "admin"}, status_code=200, tags=["poller"],
      responses=errors(404))
async def disable_addon(state: State, name: FromPath[str], data: JSONBody[NoBody | None] = None) -> AddonState:
    return await _set(state, name, False)


ROUTES = [poller_status, poller_reload, list_addons, enable_addon, disable_addon]
