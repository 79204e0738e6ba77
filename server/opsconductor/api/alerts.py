"""The alert API: list, get (with history), counts, ack/unack/resolve/note, bulk actions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, QueryParameter

from opsconductor.api.alert_views import alert_view, history_view
from opsconductor.api.events import parse_json_body
from opsconductor.api.params import AwareDatetime, IdPath
from opsconductor.errors import InputError
from opsconductor.runtime import Runtime
from opsconductor.store.alert_actions import Action, apply_action
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


@get("/api/v1/alerts", opt={"scope": "read"}, tags=["alerts"])
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
) -> dict[str, Any]:
    """Alerts matching the filters, one keyset page at a time."""
    rt: Runtime = state.runtime
    flt = _filter(status, severity, resource, event, component, label, q, since, until)
    async with rt.db.read() as conn:
        rows, next_cursor = await list_alerts(conn, flt, sort=sort, limit=limit, cursor=cursor)
    return {"alerts": [alert_view(r) for r in rows], "next_cursor": next_cursor}


@get("/api/v1/alerts/counts", opt={"scope": "read"}, tags=["alerts"])
async def counts_handler(state: State) -> dict[str, Any]:
    """Number of alerts per severity and status."""
    rt: Runtime = state.runtime
    async with rt.db.read() as conn:
        counts = await count_alerts(conn)
    return {"counts": counts, "total": sum(sum(v.values()) for v in counts.values())}


@get("/api/v1/alerts/{alert_id:int}", opt={"scope": "read"}, tags=["alerts"])
async def get_alert_handler(state: State, alert_id: IdPath) -> dict[str, Any]:
    """One alert with its full history."""
    rt: Runtime = state.runtime
    async with rt.db.read() as conn:
        row, history = await get_alert(conn, alert_id)
    return {**alert_view(row), "history": [history_view(h) for h in history]}


class _ActionBody(msgspec.Struct, forbid_unknown_fields=True):
    text: str | None = None


async def _act(rt: Runtime, request: Request[Any, Any, Any], ids: list[int], action: Action, text: str | None,
               *, bulk: bool) -> list[dict[str, Any]]:
    user: Principal = request.user
    async with rt.db.write() as conn:
        rows = await apply_action(conn, ids, action, actor=user.name, now=rt.pipeline.clock(), text=text,
                                  sink=rt.pipeline.sink, skip_conflicts=bulk)
    return [alert_view(r) for r in rows]


async def _body(request: Request[Any, Any, Any], *, required_text: bool) -> _ActionBody:
    raw = await request.body()
    if not raw.strip():
        data: Any = {}
    else:
        data = parse_json_body(raw)
    try:
        body = msgspec.convert(data, _ActionBody)
    except msgspec.ValidationError as exc:
        raise InputError(f"invalid body: {exc}") from None
    if required_text and not (body.text or "").strip():
        raise InputError("a note needs a non-empty 'text'")
    return body


def _action_route(action: Action) -> Any:
    @post(f"/api/v1/alerts/{{alert_id:int}}/{action.value}", opt={"scope": "write"}, status_code=200,
          tags=["alerts"], name=f"alert-{action.value}", operation_id=f"alert_{action.value}",
          description=f"{action.value.capitalize()} one alert; the actor is the API key's name.")
    async def handler(state: State, request: Request[Any, Any, Any], alert_id: IdPath) -> dict[str, Any]:
        body = await _body(request, required_text=action is Action.note)
        rows = await _act(state.runtime, request, [alert_id], action, body.text, bulk=False)
        return rows[0]

    return handler


class _BulkBody(msgspec.Struct, forbid_unknown_fields=True):
    ids: list[int] | None = None
    filter: dict[str, Any] | None = None
    text: str | None = None


_FILTER_KEYS = {"status", "severity", "resource", "event", "component", "label", "q"}


@post("/api/v1/alerts/bulk/{action:str}", opt={"scope": "write"}, status_code=200, tags=["alerts"])
async def bulk_handler(
    state: State, request: Request[Any, Any, Any], action: FromPath[Literal["ack", "resolve"]]
) -> dict[str, Any]:
    """Acknowledge or resolve many alerts, chosen by ``ids`` or by a ``filter`` (same keys as the list)."""
    try:
        body = msgspec.convert(parse_json_body(await request.body()), _BulkBody)
    except msgspec.ValidationError as exc:
        raise InputError(f"invalid body: {exc}") from None
    if (body.ids is None) == (body.filter is None):
        raise InputError("give exactly one of 'ids' or 'filter'")
    rt: Runtime = state.runtime
    if body.ids is not None:
        ids = body.ids
    else:
        f = body.filter or {}
        unknown = set(f) - _FILTER_KEYS
        if unknown:
            raise InputError(f"unknown filter keys: {', '.join(sorted(unknown))}")

        def many(k: str) -> list[str] | None:
            v = f.get(k)
            return None if v is None else [v] if isinstance(v, str) else [str(x) for x in v]

        flt = _filter(many("status"), many("severity"), many("resource"), many("event"), many("component"),
                      many("label"), f.get("q"), None, None)
        async with rt.db.read() as conn:
            ids = await matching_ids(conn, flt)
    rows = await _act(rt, request, ids, Action(action), body.text, bulk=True)
    return {"changed": len(rows), "ids": [r["id"] for r in rows]}


ROUTES = [list_alerts_handler, counts_handler, get_alert_handler, bulk_handler,
          *(_action_route(a) for a in (Action.ack, Action.unack, Action.resolve, Action.note))]
