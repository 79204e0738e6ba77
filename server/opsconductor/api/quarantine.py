"""Quarantined (poison) events: list them, re-process one after a fix, or discard one."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, delete, get, post
from litestar.datastructures import State
from litestar.params import Parameter, QueryParameter

from opsconductor.runtime import Runtime
from opsconductor.store import quarantine

ID_MAX = 2**63 - 1


@get("/api/v1/events/quarantine", opt={"scope": "read"}, tags=["events"])
async def list_quarantine(
    state: State,
    after_id: Annotated[int, QueryParameter(ge=0, le=ID_MAX, description="Page: only ids above this")] = 0,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Events set aside because processing them failed (id, event_id, received_at, error, payload)."""
    rt: Runtime = state.runtime
    async with rt.db.read() as conn:
        rows = await quarantine.list_quarantined(conn, limit=limit, after=after_id)
    return {"quarantine": rows, "next_after_id": rows[-1]["id"] if len(rows) == limit else None}


@post("/api/v1/events/quarantine/{qid:int}/retry", opt={"scope": "write"}, tags=["events"], status_code=202)
async def retry_quarantined(state: State, qid: Annotated[int, Parameter(ge=1, le=ID_MAX)]
                            ) -> dict[str, Any]:
    """Process the event again (say, after a rules fix); if it fails again it is quarantined again."""
    rt: Runtime = state.runtime
    async with rt.db.write() as conn:
        event_id = await quarantine.retry(conn, qid)
    rt.pipeline.wake()
    return {"event_id": event_id, "status": "queued"}


@delete("/api/v1/events/quarantine/{qid:int}", opt={"scope": "write"}, tags=["events"], status_code=204)
async def discard_quarantined(state: State, qid: Annotated[int, Parameter(ge=1, le=ID_MAX)]
                              ) -> Response[None]:
    """Forget the event (it stays in the event log, outcome ``quarantined``)."""
    rt: Runtime = state.runtime
    async with rt.db.write() as conn:
        await quarantine.discard(conn, qid)
    return Response(None, status_code=204)


ROUTES = [list_quarantine, retry_quarantined, discard_quarantined]
