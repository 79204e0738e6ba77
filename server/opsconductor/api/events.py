"""Event intake: ``POST /api/v1/events`` (one event or an array), durable before 202."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from litestar.params import HeaderParameter, QueryParameter

from opsconductor.api.contract import errors, json_body
from opsconductor.api.idempotency import idempotent
from opsconductor.errors import Unavailable
from opsconductor.normalize.validate import check_times, validate_events
from opsconductor.pipeline import InTxn
from opsconductor.runtime import Runtime

IDEM_DOC = "A retry with the same key gets the first answer and stores nothing twice (kept idempotency_ttl_s)"


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
      responses={**errors(409, 413, 422), 200: ResponseSpec(EventsAccepted, description="?wait=true: processed")})
async def post_events(
    state: State,
    request: Request[Any, Any, Any],
    data: Annotated[Any, json_body("One event or an array of events", "Event", array_of_too=True)],
    wait: Annotated[bool, QueryParameter(description="Wait until processed (answers 200)")] = False,
    idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key", description=IDEM_DOC)] = None,
) -> Response[EventsAccepted]:
    """Accept events; answer 202 once they are durably stored. ``?wait=true`` returns per-event outcomes."""
    rt: Runtime = state.runtime
    return await idempotent(request, rt, lambda in_txn: _accept(rt, data, wait, in_txn))


async def _accept(rt: Runtime, data: Any, wait: bool, in_txn: InTxn | None) -> Response[EventsAccepted]:
    events = validate_events(data, max_items=rt.settings.max_events_per_request)
    check_times(events, rt.pipeline.clock(), rt.settings.max_future_skew_s, single=isinstance(data, dict))
    ids = await rt.pipeline.accept(events, in_txn=in_txn)
    body = EventsAccepted(accepted=len(ids), ids=ids)
    if not wait:
        return Response(body, status_code=202)
    # Never a 503 for events that are stored: a retry would store them twice. What is known is
    # answered (200 when every event is processed, else 202 with "pending" for the others).
    done: dict[int, Any] = {}
    with contextlib.suppress(Unavailable):
        done = await rt.db.bounded(rt.settings.wait_timeout_s + rt.settings.db_timeout_s,
                                   rt.pipeline.wait_results(ids, rt.settings.wait_timeout_s))
    body.results = [
        EventResult(i, done[i].alert_id, done[i].outcome.value) if i in done else EventResult(i, None, "pending")
        for i in ids
    ]
    return Response(body, status_code=200 if len(done) == len(ids) else 202)


ROUTES = [post_events]
