"""Event intake: ``POST /api/v1/events`` (one event or an array), durable before 202."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Response, post
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from litestar.params import QueryParameter

from opsconductor.api.contract import errors, json_body
from opsconductor.errors import Unavailable
from opsconductor.normalize.validate import validate_events
from opsconductor.runtime import Runtime


class EventResult(msgspec.Struct):
    id: int
    alert_id: int | None
    outcome: str


class EventsAccepted(msgspec.Struct, omit_defaults=True):
    """Ids of the stored events; with ``?wait=true`` also each event's outcome."""

    accepted: int
    ids: list[int]
    results: list[EventResult] | None = None


@post("/api/v1/events", opt={"scope": "write"}, status_code=202, tags=["events"],
      responses={**errors(413, 422), 200: ResponseSpec(EventsAccepted, description="?wait=true: processed")})
async def post_events(
    state: State,
    data: Annotated[Any, json_body("One event or an array of events", "Event", array_of_too=True)],
    wait: Annotated[bool, QueryParameter(description="Wait until processed (answers 200)")] = False,
) -> Response[EventsAccepted]:
    """Accept events; answer 202 once they are durably stored. ``?wait=true`` returns per-event outcomes."""
    rt: Runtime = state.runtime
    events = validate_events(data, max_items=rt.settings.max_events_per_request)
    ids = await rt.pipeline.accept(events)
    body = EventsAccepted(accepted=len(ids), ids=ids)
    if wait:
        done = await rt.pipeline.wait_results(ids, rt.settings.wait_timeout_s)
        body.results = [
            EventResult(i, done[i].alert_id, done[i].outcome.value) if i in done else EventResult(i, None, "pending")
            for i in ids
        ]
        if len(done) < len(ids):
            raise Unavailable(f"{len(ids) - len(done)} events accepted but not processed within "
                              f"{rt.settings.wait_timeout_s}s; they will be processed")
        return Response(body, status_code=200)
    return Response(body, status_code=202)


ROUTES = [post_events]
