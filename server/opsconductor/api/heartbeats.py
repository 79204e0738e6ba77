"""``POST/GET /api/v1/heartbeats``: sources that must keep talking (Alerta's ``/heartbeat``)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import JSONBody

from opsconductor.api.contract import errors
from opsconductor.correlate.heartbeats import MAX_TIMEOUT, Beat, beat, list_heartbeats
from opsconductor.errors import FieldProblem, ValidationFailed
from opsconductor.runtime import Runtime
from opsconductor.store.api_keys import Principal


class HeartbeatCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A heartbeat: none within ``timeout`` seconds opens heartbeat_missing for ``origin``."""

    origin: str
    timeout: int = 86_400
    labels: dict[str, str] = msgspec.field(default_factory=dict)


class HeartbeatView(msgspec.Struct):
    """A heartbeat and its state: ``ok`` or ``expired`` (heartbeat_missing is open); times RFC 3339 UTC."""

    origin: str
    timeout: int
    labels: dict[str, str]
    created_by: str
    last_seen: str
    expires_at: str
    status: str
    age_s: float


class HeartbeatRecorded(HeartbeatView):
    recovered: bool  # this heartbeat resolved an open heartbeat_missing


class HeartbeatList(msgspec.Struct):
    heartbeats: list[HeartbeatView]


def _problems(body: HeartbeatCreate) -> list[FieldProblem]:
    out = []
    if not 1 <= len(body.origin.strip()) <= 255:
        out.append(FieldProblem("origin", "must be 1 to 255 characters"))
    if not 1 <= body.timeout <= MAX_TIMEOUT:
        out.append(FieldProblem("timeout", f"seconds, from 1 to {MAX_TIMEOUT}"))
    for k, v in body.labels.items():
        if not 1 <= len(k) <= 128 or len(v) > 1024:
            out.append(FieldProblem(f"labels.{k[:128]}", "names are 1-128 characters, values at most 1024"))
    return out


@post("/api/v1/heartbeats", opt={"scope": "write"}, tags=["heartbeats"], status_code=201, responses=errors(422))
async def post_heartbeat(state: State, request: Request[Any, Any, Any],
                         data: JSONBody[HeartbeatCreate]) -> HeartbeatRecorded:
    """Record a heartbeat from ``origin``; none within ``timeout`` seconds opens heartbeat_missing,
    the next one resolves it."""
    rt: Runtime = state.runtime
    problems = _problems(data)
    if problems:
        raise ValidationFailed("invalid heartbeat", problems)
    user: Principal = request.user
    now = rt.pipeline.clock()
    origin = data.origin.strip()
    async with rt.db.write() as conn:
        recovered = await beat(conn, Beat(origin, data.timeout, data.labels, user.name), now)
        rows = await list_heartbeats(conn, now)
    if recovered:
        rt.pipeline.wake()  # the clear is in the event log: process it now
    (view,) = [r for r in rows if r["origin"] == origin]
    return HeartbeatRecorded(**view, recovered=recovered)


@get("/api/v1/heartbeats", opt={"scope": "read"}, tags=["heartbeats"], responses=errors())
async def get_heartbeats(state: State) -> HeartbeatList:
    """Every heartbeat with its state: ``ok`` or ``expired`` (heartbeat_missing is open)."""
    rt: Runtime = state.runtime
    async with rt.db.read() as conn:
        return HeartbeatList([HeartbeatView(**r) for r in await list_heartbeats(conn, rt.pipeline.clock())])


ROUTES = [post_heartbeat, get_heartbeats]
