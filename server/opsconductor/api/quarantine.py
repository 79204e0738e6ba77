"""Quarantined (poison) events: list them, re-process one after a fix, or discard one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Response, delete, get, post
from litestar.datastructures import State
from litestar.params import JSONBody, QueryParameter

from opsconductor.api.contract import NoBody, errors
from opsconductor.api.params import MAX_ID, IdPath
from opsconductor.runtime import Runtime
from opsconductor.store import quarantine


class QuarantinedEvent(msgspec.Struct):
    """An event whose processing failed on its own; the rest of its batch was processed."""

    id: int
    event_id: int
    received_at: datetime
    quarantined_at: datetime
    error: str
    payload: dict[str, Any]


class QuarantineList(msgspec.Struct):
    quarantine: list[QuarantinedEvent]
    next_after_id: int | None  # the next page: ?after_id=<this>; null on the last page


class RetryQueued(msgspec.Struct):
    event_id: int
    status: str  # "queued": processed again with the next batch


@get("/api/v1/events/quarantine", opt={"scope": "read"}, tags=["events"], responses=errors())
async def list_quarantine(
    state: State,
    after_id: Annotated[int, QueryParameter(ge=0, le=MAX_ID, description="Page: only ids above this")] = 0,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
) -> QuarantineList:
    """Events set aside because processing them failed (id, event_id, received_at, error, payload)."""
    rt: Runtime = state.runtime
    async with rt.db.read() as conn:
        rows = await quarantine.list_quarantined(conn, limit=limit, after=after_id)
    return QuarantineList([msgspec.convert(r, QuarantinedEvent) for r in rows],
                          rows[-1]["id"] if len(rows) == limit else None)


@post("/api/v1/events/quarantine/{qid:int}/retry", opt={"scope": "write"}, tags=["events"], status_code=202,
      responses=errors(404))
async def retry_quarantined(state: State, qid: IdPath, data: JSONBody[NoBody | None] = None) -> RetryQueued:
    """Process the event again (say, after a rules fix); if it fails again it is quarantined again."""
    rt: Runtime = state.runtime
    async with rt.db.write() as conn:
        event_id = await quarantine.retry(conn, qid)
    rt.pipeline.wake()
    return RetryQueued(event_id, "queued")


@delete("/api/v1/events/quarantine/{qid:int}", opt={"scope": "write"}, tags=["events"], status_code=204,
        responses=errors(404))
async def discard_quarantined(state: State, qid: IdPath) -> Response[None]:
    """Forget the event (it stays in the event log, outcome ``quarantined``)."""
    rt: Runtime = state.runtime
    async with rt.db.write() as conn:
        await quarantine.discard(conn, qid)
    return Response(None, status_code=204)


ROUTES = [list_quarantine, retry_quarantined, discard_quarantined]
