"""Silences: ``POST/GET/DELETE /api/v1/silences``. Ended silences are kept for history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, delete, get, post
from litestar.datastructures import State
from litestar.params import JSONBody, QueryParameter

from opsconductor.api.contract import errors
from opsconductor.api.params import IdPath
from opsconductor.correlate import silences as store
from opsconductor.correlate.install import reevaluate_now
from opsconductor.correlate.parser import parse_matcher
from opsconductor.correlate.rules import parse_duration
from opsconductor.errors import FieldProblem, ValidationFailed
from opsconductor.runtime import Runtime
from opsconductor.store.api_keys import Principal

MAX_SILENCE = timedelta(days=366)


class SilenceCreate(msgspec.Struct, forbid_unknown_fields=True):
    """``matchers`` in the rule matcher language; ``ends_at`` or ``duration`` (e.g. 2h) say until when."""

    matchers: dict[str, Any]
    comment: str
    ends_at: datetime | None = None
    duration: str | None = None
    starts_at: datetime | None = None


class SilenceView(msgspec.Struct):
    id: int
    matchers: dict[str, Any]
    starts_at: str
    ends_at: str
    comment: str
    created_by: str
    created_at: str
    ended_by: str | None
    state: Literal["pending", "active", "expired"]


class SilenceList(msgspec.Struct):
    silences: list[SilenceView]


def _iso(v: datetime) -> str:
    return v.isoformat().replace("+00:00", "Z")


def _view(row: Any, now: datetime) -> SilenceView:
    state: Literal["pending", "active", "expired"] = (
        "pending" if row["starts_at"] > now else "active" if row["ends_at"] > now else "expired")
    return SilenceView(id=row["id"], matchers=row["matchers"], starts_at=_iso(row["starts_at"]),
                       ends_at=_iso(row["ends_at"]), comment=row["comment"], created_by=row["created_by"],
                       created_at=_iso(row["created_at"]), ended_by=row["ended_by"], state=state)


def _utc_ok(v: datetime | None) -> bool:
    try:
        if v is not None and v.tzinfo is not None:
            v.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
        return False
    return True


def _check(body: SilenceCreate, now: datetime) -> tuple[datetime, datetime]:
    """Start and end of a new silence, or ValidationFailed listing every problem."""
    problems: list[FieldProblem] = []
    if not body.matchers:
        problems.append(FieldProblem("matchers", "at least one matcher is required (a silence of everything "
                                                 "is almost certainly a mistake)"))
    _, errs = parse_matcher(body.matchers, "matchers")
    problems += [FieldProblem(f"matchers.{e.field}" if e.field else "matchers", e.message) for e in errs]
    if not body.comment.strip():
        problems.append(FieldProblem("comment", "say why (who asked, which change)"))
    problems += [FieldProblem(name, "is outside the range of representable times")
                 for name, v in (("starts_at", body.starts_at), ("ends_at", body.ends_at)) if not _utc_ok(v)]
    if problems:
        raise ValidationFailed("invalid silence", problems)
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
    return starts, ends


@post("/api/v1/silences", opt={"scope": "write"}, tags=["silences"], status_code=201, responses=errors(422))
async def create_silence(state: State, request: Request[Any, Any, Any], data: JSONBody[SilenceCreate]) -> SilenceView:
    """Silence alerts matching ``matchers`` (rule matcher language) from starts_at until ends_at."""
    rt: Runtime = state.runtime
    now = rt.pipeline.clock()
    starts, ends = _check(data, now)
    user: Principal = request.user
    async with rt.db.write() as conn:
        row = await store.create_silence(conn, matchers=data.matchers, starts_at=starts, ends_at=ends,
                                         comment=data.comment.strip(), created_by=user.name, now=now)
    await reevaluate_now(rt)  # alerts already open under the silence are suppressed now, not later
    return _view(row, now)


@get("/api/v1/silences", opt={"scope": "read"}, tags=["silences"], responses=errors())
async def list_silences(
    state: State,
    status: Annotated[Literal["active", "pending", "expired", "all"], QueryParameter()] = "all",
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200,
) -> SilenceList:
    """Silences, newest first; ``status`` filters active, pending or expired (history)."""
    rt: Runtime = state.runtime
    now = rt.pipeline.clock()
    async with rt.db.read() as conn:
        rows = await store.list_silences(conn, status, now, limit)
    return SilenceList([_view(r, now) for r in rows])


@get("/api/v1/silences/{silence_id:int}", opt={"scope": "read"}, tags=["silences"], responses=errors(404))
async def get_silence(state: State, silence_id: IdPath) -> SilenceView:
    rt: Runtime = state.runtime
    async with rt.db.read() as conn:
        row = await store.get_silence(conn, silence_id)
    return _view(row, rt.pipeline.clock())


@delete("/api/v1/silences/{silence_id:int}", opt={"scope": "write"}, tags=["silences"], status_code=200,
        responses=errors(404, 409))
async def end_silence(state: State, request: Request[Any, Any, Any], silence_id: IdPath) -> SilenceView:
    """End a silence now (it stays, expired, for history); its alerts are re-evaluated at once."""
    rt: Runtime = state.runtime
    now = rt.pipeline.clock()
    user: Principal = request.user
    async with rt.db.write() as conn:
        row = await store.end_silence(conn, silence_id, ended_by=user.name, now=now)
    await reevaluate_now(rt)
    return _view(row, now)


ROUTES = [create_silence, list_silences, get_silence, end_silence]
