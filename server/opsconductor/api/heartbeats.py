"""``POST/GET /api/v1/heartbeats``: sources that must keep talking (Alerta's ``/heartbeat``)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State

from opsconductor.api.events import parse_json_body
from opsconductor.correlate.heartbeats import MAX_TIMEOUT, Beat, beat, list_heartbeats
from opsconductor.errors import FieldProblem, InputError, ValidationFailed
from opsconductor.runtime import Runtime
from opsconductor.store.api_keys import Principal


class _HeartbeatBody(msgspec.Struct, forbid_unknown_fields=True):
    origin: str
    timeout: int = 86_400
    labels: dict[str, str] = msgspec.field(default_factory=dict)


def _problems(body: _HeartbeatBody) -> list[FieldProblem]:
    out = []
    if not 1 <= len(body.origin.strip()) <= 255:
        out.append(FieldProblem("origin", "must be 1 to 255 characters"))
    if not 1 <= body.timeout <= MAX_TIMEOUT:
        out.append(FieldProblem("timeout", f"seconds, from 1 to {MAX_TIMEOUT}"))
    for k, v in body.labels.items():
        if not 1 <= len(k) <= 128 or len(v) > 1024:
            out.append(FieldProblem(f"labels.{k[:128]}", "names are 1-128 characters, values at most 1024"))
    return out


@post("/api/v1/heartbeats", opt={"scope": "write"}, tags=["heartbeats"], status_code=201)
async def post_heartbeat(state: State, request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Record a heartbeat from ``origin``; none within ``timeout`` seconds opens heartbeat_missing,
    the next one resolves it."""
    rt: Runtime = state.runtime
    try:
        body = msgspec.convert(parse_json_body(await request.body()), _HeartbeatBody)
    except msgspec.ValidationError as exc:
        raise InputError(f"invalid body: {exc}") from None
    problems = _problems(body)
    if problems:
        raise ValidationFailed("invalid heartbeat", problems)
    user: Principal = request.user
    now = rt.pipeline.clock()
    origin = body.origin.strip()
    async with rt.db.write() as conn:
        recovered = await beat(conn, Beat(origin, body.timeout, body.labels, user.name), now)
        rows = await list_heartbeats(conn, now)
    if recovered:
        rt.pipeline.wake()  # the clear is in the event log: process it now
    (view,) = [r for r in rows if r["origin"] == origin]
    return {**view, "recovered": recovered}


@get("/api/v1/heartbeats", opt={"scope": "read"}, tags=["heartbeats"])
async def get_heartbeats(state: State) -> dict[str, Any]:
    """Every heartbeat with its state: ``ok`` or ``expired`` (heartbeat_missing is open)."""
    rt: Runtime = state.runtime
    async with rt.db.read() as conn:
        return {"heartbeats": await list_heartbeats(conn, rt.pipeline.clock())}


ROUTES = [post_heartbeat, get_heartbeats]
