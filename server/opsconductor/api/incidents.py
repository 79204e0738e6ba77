"""``GET /api/v1/alerts/{id}/children``: the children of a correlation parent (an incident)."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.datastructures import State
from litestar.params import FromPath
from sqlalchemy import select

from opsconductor.api.alert_views import alert_view
from opsconductor.runtime import Runtime
from opsconductor.store.alert_queries import get_alert
from opsconductor.store.alert_writer import ALERTS


@get("/api/v1/alerts/{alert_id:int}/children", opt={"scope": "read"}, tags=["alerts"])
async def children_handler(state: State, alert_id: FromPath[int]) -> dict[str, Any]:
    """Every alert (open or closed) whose ``parent_id`` is this alert, oldest first."""
    rt: Runtime = state.runtime
    async with rt.db.read() as conn:
        await get_alert(conn, alert_id)  # 404 for an unknown parent
        rows = (await conn.execute(select(ALERTS).where(ALERTS.c.parent_id == alert_id)
                                   .order_by(ALERTS.c.id))).mappings()
        children = [alert_view(dict(r)) for r in rows]
    return {"parent_id": alert_id, "children": children}


ROUTES = [children_handler]
