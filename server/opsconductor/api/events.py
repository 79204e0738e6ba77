"""Event intake: ``POST /api/v1/events`` (one event or an array), durable before 202."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.params import HeaderParameter, QueryParameter

from opsconductor.api.idempotency import idempotent
from opsconductor.errors import InputError, Unavailable
from opsconductor.normalize.validate import check_times, validate_events
from opsconductor.pipeline import InTxn
from opsconductor.runtime import Runtime
from opsconductor.store.alert_writer import EventResult


def parse_json_body(body: bytes) -> Any:
    if not body.strip():
        raise InputError("request body is empty; send a JSON event or array of events")
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InputError(f"malformed JSON: {exc}") from None


IDEM_DOC = "A retry with the same key gets the first answer and stores nothing twice (kept idempotency_ttl_s)"


@post("/api/v1/events", opt={"scope": "write"}, status_code=202, tags=["events"])
async def post_events(
    request: Request[Any, Any, Any],
    state: State,
    wait: Annotated[bool, QueryParameter(description="Wait until processed")] = False,
    idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key", description=IDEM_DOC)] = None,
) -> Response[dict[str, Any]]:
    """Accept events; answer 202 once they are durably stored. ``?wait=true`` returns per-event outcomes."""
    rt: Runtime = state.runtime
    return await idempotent(request, rt, lambda in_txn: _accept(request, rt, wait, in_txn))


async def _accept(request: Request[Any, Any, Any], rt: Runtime, wait: bool, in_txn: InTxn | None
                  ) -> Response[dict[str, Any]]:
    payload = parse_json_body(await request.body())
    events = validate_events(payload, max_items=rt.settings.max_events_per_request)
    check_times(events, rt.pipeline.clock(), rt.settings.max_future_skew_s, single=isinstance(payload, dict))
    ids = await rt.pipeline.accept(events, in_txn=in_txn)
    body: dict[str, Any] = {"accepted": len(ids), "ids": ids}
    if wait:
        # Never a 503 for events that are stored: a retry would store them twice. What is known is
        # answered (200 when every event is processed, else 202 with "pending" for the others).
        done: dict[int, EventResult] = {}
        with contextlib.suppress(Unavailable):
            done = await rt.db.bounded(rt.settings.wait_timeout_s + rt.settings.db_timeout_s,
                                       rt.pipeline.wait_results(ids, rt.settings.wait_timeout_s))
        body["results"] = [
            {"id": i, "alert_id": done[i].alert_id, "outcome": done[i].outcome.value} if i in done
            else {"id": i, "alert_id": None, "outcome": "pending"}
            for i in ids
        ]
        return Response(body, status_code=200 if len(done) == len(ids) else 202)
    return Response(body, status_code=202)


ROUTES = [post_events]
