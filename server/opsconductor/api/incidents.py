"""``GET /api/v1/alerts/{id}/children``: the children of a correlation parent (an incident)."""

from __future__ import annotations

import msgspec
from litestar import get
from litestar.datastructures import State

from opsconductor.api.alert_views import AlertView, alert_view
from opsconductor.api.contract import errors
from opsconductor.api.params import IdPath
from opsconductor.runtime import Runtime
from opsconductor.store.alert_queries import get_alert, list_children


class IncidentChildren(msgspec.Struct):
    """A correlation parent's children: every alert whose ``parent_id`` is the parent."""

    parent_id: int
    children: list[AlertView]


@get("/api/v1/alerts/{alert_id:int}/children", opt={"scope": "read"}, tags=["alerts"], responses=errors(404))
async def children_handler(state: State, alert_id: IdPath) -> IncidentChildren:
    """Every alert (open or closed) whose ``parent_id`` is this alert, oldest first."""
    rt: Runtime = state.runtime
    async with rt.db.read() as conn:
        await get_alert(conn, alert_id)  # 404 for an unknown parent
        children = [alert_view(r) for r in await list_children(conn, alert_id)]
    return IncidentChildren(alert_id, children)


ROUTES = [children_handler]
