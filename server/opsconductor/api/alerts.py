"""The alert API: list, get (with history), counts, ack/unack/resolve/note, bulk actions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter

from opsconductor.api.alert_views import AlertView, AlertWithHistory, alert_view, alert_with_history
from opsconductor.api.contract import errors
from opsconductor.api.params import MAX_ID, AwareDatetime, IdPath
from opsconductor.errors import InputError
from opsconductor.model.alert import Action
from opsconductor.runtime import Runtime
from opsconductor.store.alert_queries import (
    AlertFilter,
    count_alerts,
    get_alert,
    list_alerts,
    matching_ids,
    parse_label_filters,
)
from opsconductor.store.api_keys import Principal

Multi = list[str] | None


def _filter(status: Multi, severity: Multi, resource: Multi, event: Multi, component: Multi, label: Multi,
            q: str | None, since: datetime | None, until: datetime | None,
            ids: tuple[int, ...] = ()) -> AlertFilter:
    return AlertFilter(
        status=tuple(status or ()), severity=tuple(severity or ()), resource=tuple(resource or ()),
        event=tuple(event or ()), component=tuple(component or ()), labels=parse_label_filters(label or []),
        q=q, since=since, until=until, ids=ids,
    )


class AlertPage(msgspec.Struct):
    alerts: list[AlertView]
    next_cursor: str | None


class AlertCounts(msgspec.Struct):
    counts: dict[str, dict[str, int]]  # severity -> status -> number
    total: int


class ActionBody(msgspec.Struct, forbid_unknown_fields=True):
    text: str | None = None


class BulkFilter(msgspec.Struct, forbid_unknown_fields=True):
    """The list's filters; each a value or a list of values."""

    status: str | list[str] | None = None
    severity: str | list[str] | None = None
    resource: str | list[str] | None = None
    event: str | list[str] | None = None
    component: str | list[str] | None = None
    label: str | list[str] | None = None
    q: str | None = None


MAX_BULK = 10_000  # as many as a filter selects; PostgreSQL takes at most 32,767 bound parameters


class BulkBody(msgspec.Struct, forbid_unknown_fields=True):
    """Exactly one of ``ids`` or ``filter``."""

    ids: Annotated[list[Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]], msgspec.Meta(max_length=MAX_BULK)] | None = None
    filter: BulkFilter | None = None
    text: str | None = None


class BulkResult(msgspec.Struct):
    changed: int
    ids: list[int]


@get("/api/v1/alerts", opt={"scope": "read"}, tags=["alerts"], responses=errors())
async def list_alerts_handler(
    state: State,
    status: Annotated[Multi, QueryParameter(description="Default: active, acknowledged, suppressed")] = None,
    severity: Annotated[Multi, QueryParameter()] = None,
    resource: Annotated[Multi, QueryParameter()] = None,
    event: Annotated[Multi, QueryParameter()] = None,
    component: Annotated[Multi, QueryParameter()] = None,
    label: Annotated[Multi, QueryParameter(description="name:value, e.g. site:ams")] = None,
    q: Annotated[str | None, QueryParameter(description="Text in resource/event/component/summary")] = None,
    since: Annotated[AwareDatetime | None, QueryParameter(description="last_seen >= since (RFC 3339)")] = None,
    until: Annotated[AwareDatetime | None, QueryParameter(description="last_seen < until (RFC 3339)")] = None,
    sort: Annotated[
        str, QueryParameter(description="id|last_seen|first_seen|severity|duplicate_count; prefix - for desc")
    ] = "-last_seen",
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, QueryParameter()] = None,
) -> AlertPage:
    """Alerts matching the filters, one keyset page at a time."""
    rt: Runtime = state.runtime
    flt = _filter(status, severity, resource, event, component, label, q, since, until)
    async with rt.db.read() as conn:
        rows, next_cursor = await list_alerts(conn, flt, sort=sort, limit=limit, cursor=cursor)
    return AlertPage([alert_view(r) for r in rows], next_cursor)


@get("/api/v1/alerts/counts", opt={"scope": "read"}, tags=["alerts"], responses=errors())
async def counts_handler(state: State) -> AlertCounts:
    """Number of alerts per severity and status."""
    rt: Runtime = state.runtime
    async with rt.db.read() as conn:
        counts = await count_alerts(conn)
    return AlertCounts(counts, sum(sum(v.values()) for v in counts.values()))


@get("/api/v1/alerts/{alert_id:int}", opt={"scope": "read"}, tags=["alerts"], responses=errors(404))
async def get_alert_handler(state: State, alert_id: IdPath) -> AlertWithHistory:
    """One alert with its full history."""
    rt: Runtime = state.runtime
    async with rt.db.read() as conn:
        row, history = await get_alert(conn, alert_id)
    return alert_with_history(row, history)


async def _act(rt: Runtime, request: Request[Any, Any, Any], ids: list[int], action: Action, text: str | None,
               *, bulk: bool) -> list[AlertView]:
    user: Principal = request.user
    rows = await rt.pipeline.act(ids, action, actor=user.name, text=text, skip_conflicts=bulk)
    return [alert_view(r) for r in rows]


def _action_route(action: Action) -> Any:
    needs_text = action is Action.note

    @post(f"/api/v1/alerts/{{alert_id:int}}/{action.value}", opt={"scope": "write"}, status_code=200,
          tags=["alerts"], name=f"alert-{action.value}", operation_id=f"alert_{action.value}",
          description=f"{action.value.capitalize()} one alert; the actor is the API key's name."
          + (" Needs a non-empty 'text'." if needs_text else " 'text' is optional."),
          responses=errors(404, 409))
    async def handler(state: State, request: Request[Any, Any, Any], alert_id: IdPath,
                      data: JSONBody[ActionBody | None] = None) -> AlertView:
        text = data.text if data else None
        if needs_text and not (text or "").strip():
            raise InputError("a note needs a non-empty 'text'")
        rows = await _act(state.runtime, request, [alert_id], action, text, bulk=False)
        return rows[0]

    return handler


@post("/api/v1/alerts/bulk/{action:str}", opt={"scope": "write"}, status_code=200, tags=["alerts"],
      responses=errors())
async def bulk_handler(
    state: State, request: Request[Any, Any, Any], action: FromPath[Literal["ack", "resolve"]],
    data: JSONBody[BulkBody],
) -> BulkResult:
    """Acknowledge or resolve many alerts, chosen by ``ids`` or by a ``filter`` (same keys as the list)."""
    body = data
    if (body.ids is None) == (body.filter is None):
        raise InputError("give exactly one of 'ids' or 'filter'")
    rt: Runtime = state.runtime
    if body.ids is not None:
        ids = body.ids
    else:
        f = body.filter
        assert f is not None

        def many(v: str | list[str] | None) -> list[str] | None:
            return None if v is None else [v] if isinstance(v, str) else v

        flt = _filter(many(f.status), many(f.severity), many(f.resource), many(f.event), many(f.component),
                      many(f.label), f.q, None, None)
        async with rt.db.read() as conn:
            ids = await matching_ids(conn, flt)
    rows = await _act(rt, request, ids, Action(action), body.text, bulk=True)
    return BulkResult(len(rows), [r.id for r in rows])


ROUTES = [list_alerts_handler, counts_handler, get_alert_handler, bulk_handler,
          *(_action_route(a) for a in (Action.ack, Action.unack, Action.resolve, Action.note))]
