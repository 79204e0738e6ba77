"""Silences: ``POST/GET/DELETE /api/v1/silences``. Ended silences are kept for history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, delete, get, post
from litestar.datastructures import State
from litestar.params import QueryParameter
from sqlalchemy import insert, select, update

from opsconductor.api.events import parse_json_body
from opsconductor.api.params import IdPath
from opsconductor.correlate.install import reevaluate_now
from opsconductor.correlate.parser import parse_matcher
from opsconductor.correlate.rules import parse_duration
from opsconductor.correlate.state import SILENCES
from opsconductor.errors import Conflict, FieldProblem, InputError, NotFound, ValidationFailed
from opsconductor.runtime import Runtime
from opsconductor.store.api_keys import Principal

MAX_SILENCE = timedelta(days=366)


class _SilenceBody(msgspec.Struct, forbid_unknown_fields=True):
    matchers: dict[str, Any]
    comment: str
    ends_at: datetime | None = None
    duration: str | None = None
    starts_at: datetime | None = None


def _iso(v: datetime) -> str:
    return v.isoformat().replace("+00:00", "Z")


def _view(row: Any, now: datetime) -> dict[str, Any]:
    state = "pending" if row["starts_at"] > now else "active" if row["ends_at"] > now else "expired"
    return {"id": row["id"], "matchers": row["matchers"], "starts_at": _iso(row["starts_at"]),
            "ends_at": _iso(row["ends_at"]), "comment": row["comment"], "created_by": row["created_by"],
            "created_at": _iso(row["created_at"]), "ended_by": row["ended_by"], "state": state}


@post("/api/v1/silences", opt={"scope": "write"}, tags=["silences"], status_code=201)
async def create_silence(state: State, request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Silence alerts matching ``matchers`` (rule matcher language) from starts_at until ends_at."""
    rt: Runtime = state.runtime
    try:
        body = msgspec.convert(parse_json_body(await request.body()), _SilenceBody)
    except msgspec.ValidationError as exc:
        raise InputError(f"invalid body: {exc}") from None
    problems: list[FieldProblem] = []
    if not body.matchers:
        problems.append(FieldProblem("matchers", "at least one matcher is required (a silence of everything "
                                                 "is almost certainly a mistake)"))
    _, errors = parse_matcher(body.matchers, "matchers")
    problems += [FieldProblem(f"matchers.{e.field}" if e.field else "matchers", e.message) for e in errors]
    if not body.comment.strip():
        problems.append(FieldProblem("comment", "say why (who asked, which change)"))
    now = rt.pipeline.clock()
    starts = body.starts_at or now
    ends = body.ends_at
    if body.duration is not None:
        d = parse_duration(body.duration)
        if d is None or d <= 0:
            problems.append(FieldProblem("duration", "use e.g. 30m, 2h, 1d"))
        elif d > MAX_SILENCE.total_seconds():
            problems.append(FieldProblem("duration", "at most a year (366d)"))
        else:
            try:
                ends = starts + timedelta(seconds=d)
            except OverflowError:
                problems.append(FieldProblem("starts_at", "too far in the future"))
    for name, v in (("starts_at", body.starts_at), ("ends_at", body.ends_at)):
        if v is not None and v.tzinfo is None:
            problems.append(FieldProblem(name, "must carry a timezone offset (RFC 3339)"))
    if ends is None:
        problems.append(FieldProblem("ends_at", "give ends_at or duration"))
    elif not problems and (ends <= starts or ends - starts > MAX_SILENCE):
        problems.append(FieldProblem("ends_at", "must be after starts_at and within a year of it"))
    if problems:
        raise ValidationFailed("invalid silence", problems)
    assert ends is not None
    user: Principal = request.user
    async with rt.db.write() as conn:
        res = await conn.execute(insert(SILENCES).returning(SILENCES.c.id).values(
            matchers=body.matchers, starts_at=starts, ends_at=ends, comment=body.comment.strip(),
            created_by=user.name, created_at=now))
        sid = res.scalar_one()
        row = (await conn.execute(select(SILENCES).where(SILENCES.c.id == sid))).mappings().one()
    await reevaluate_now(rt)  # alerts already open under the silence are suppressed now, not later
    return _view(row, now)


@get("/api/v1/silences", opt={"scope": "read"}, tags=["silences"])
async def list_silences(
    state: State,
    status: Annotated[Literal["active", "pending", "expired", "all"], QueryParameter()] = "all",
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Silences, newest first; ``status`` filters active, pending or expired (history)."""
    rt: Runtime = state.runtime
    now = rt.pipeline.clock()
    stmt = select(SILENCES).order_by(SILENCES.c.id.desc()).limit(limit)
    if status == "active":
        stmt = stmt.where(SILENCES.c.starts_at <= now, SILENCES.c.ends_at > now)
    elif status == "pending":
        stmt = stmt.where(SILENCES.c.starts_at > now)
    elif status == "expired":
        stmt = stmt.where(SILENCES.c.ends_at <= now)
    async with rt.db.read() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return {"silences": [_view(r, now) for r in rows]}


@get("/api/v1/silences/{silence_id:int}", opt={"scope": "read"}, tags=["silences"])
async def get_silence(state: State, silence_id: IdPath) -> dict[str, Any]:
    rt: Runtime = state.runtime
    async with rt.db.read() as conn:
        row = (await conn.execute(select(SILENCES).where(SILENCES.c.id == silence_id))).mappings().first()
    if row is None:
        raise NotFound(f"no silence with id {silence_id}")
    return _view(row, rt.pipeline.clock())


@delete("/api/v1/silences/{silence_id:int}", opt={"scope": "write"}, tags=["silences"], status_code=200)
async def end_silence(state: State, request: Request[Any, Any, Any], silence_id: IdPath) -> dict[str, Any]:
    """End a silence now (it stays, expired, for history); its alerts are re-evaluated at once."""
    rt: Runtime = state.runtime
    now = rt.pipeline.clock()
    user: Principal = request.user
    async with rt.db.write() as conn:
        row = (await conn.execute(select(SILENCES).where(SILENCES.c.id == silence_id))).mappings().first()
        if row is None:
            raise NotFound(f"no silence with id {silence_id}")
        if row["ends_at"] <= now:
            raise Conflict(f"silence {silence_id} has already ended")
        await conn.execute(update(SILENCES).where(SILENCES.c.id == silence_id).values(
            ends_at=max(now, row["starts_at"]), ended_by=user.name))
        row = (await conn.execute(select(SILENCES).where(SILENCES.c.id == silence_id))).mappings().one()
    await reevaluate_now(rt)
    return _view(row, now)


ROUTES = [create_silence, list_silences, get_silence, end_silence]
