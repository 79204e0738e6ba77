"""Two-way sync: ``POST /api/v1/inbound/{receiver}`` takes acks and resolves from the services we notify.

No API key: each request is authenticated by the service's own signature or shared secret (the
receiver's ``inbound_secret``; 401 when it does not verify), over the raw body, so the handler reads
the bytes itself and the OpenAPI body is declared by :class:`_ServiceBody`. A receipt keyed by the
service's delivery is claimed first, so a replayed request changes nothing; the change is applied
as an operator action (``rt.pipeline.act``), the history says who did it where ("acknowledged by
jane@example.com in PagerDuty"), and the receiver it came from is not told about it again (loop-free).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request, post
from litestar.datastructures import State
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath

from opsconductor.api.contract import PUBLIC_SECURITY, errors
from opsconductor.errors import Conflict, NotFound, Unavailable
from opsconductor.model.alert import Action
from opsconductor.notify import inbound_store
from opsconductor.notify.inbound import SERVICE, Inbound, history_text, parse
from opsconductor.notify.outbox import from_receiver
from opsconductor.notify.secrets import SecretUnavailable
from opsconductor.runtime import Runtime

MAX_BODY = 1_000_000


class InboundResult(msgspec.Struct):
    """What the change did: its alert and action, or why nothing changed (a replay, an unknown alert)."""

    receiver: str
    outcome: str
    alert_id: int | None = None
    action: str | None = None


@dataclass
class _ServiceBody(Operation):
    """The body is the service's own webhook, verified over its raw bytes (so no decoded ``data``)."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(required=True, description=(
            "The service's webhook as it sends it: PagerDuty V3, Opsgenie, Jira, ServiceNow JSON; a Slack "
            "interaction is a form with a JSON 'payload'. Signed as docs/notify.md, 'Two-way sync' says."),
            content={
                "application/json": OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT)),
                "application/x-www-form-urlencoded": OpenAPIMediaType(schema=Schema(
                    type=OpenAPIType.OBJECT, properties={"payload": Schema(type=OpenAPIType.STRING)},
                    required=["payload"])),
            })


@post("/api/v1/inbound/{receiver:str}", opt={"public": True}, tags=["notifications"], status_code=200,
      security=PUBLIC_SECURITY, responses=errors(401, 404, public=True), operation_class=_ServiceBody)
async def inbound(state: State, request: Request[Any, Any, Any], receiver: FromPath[str]) -> InboundResult:
    """An ack/resolve from PagerDuty, Opsgenie, Jira, ServiceNow or a Slack button (signed by the service)."""
    rt: Runtime = state.runtime
    rc = rt.notify.config.receivers.get(receiver) if rt.notify else None
    if rc is None or "inbound_secret" not in rc.secrets:
        raise NotFound(f"receiver {receiver!r} takes no inbound changes")
    try:
        secret = rc.secrets["inbound_secret"].resolve()
    except SecretUnavailable as exc:
        raise Unavailable(f"receiver {receiver!r}: inbound secret unavailable: {exc}") from None
    body = await request.body()
    got = parse(rc.kind, {k.lower(): v for k, v in request.headers.items()}, body[:MAX_BODY], secret, now=time.time())
    key = f"{receiver[:60]}:{hashlib.sha256(got.replay_key.encode()).hexdigest()}"
    if not await inbound_store.claim(rt.db, receiver=receiver, key=key, now=rt.pipeline.clock(), got=got):
        return InboundResult(receiver, "duplicate: already applied")
    try:
        alert_id, outcome = await _apply(rt, receiver, rc.kind, got)
    except BaseException:
        with contextlib.suppress(Exception):  # not applied: the service's retry must be able to apply it
            await inbound_store.forget(rt.db, key)
        raise
    await inbound_store.settle(rt.db, key, alert_id, outcome)
    return InboundResult(receiver, outcome, alert_id, got.action)


async def _apply(rt: Runtime, receiver: str, kind: str, got: Inbound) -> tuple[int | None, str]:
    async with rt.db.read() as conn:
        alert_id, why = await inbound_store.find_alert(conn, receiver, got)
    if alert_id is None:
        return None, why or "unknown alert"
    if got.action is None:
        return alert_id, f"ignored: {got.what}"
    text = history_text(got.action, got.actor, kind)
    try:
        with from_receiver(receiver, [alert_id]):
            await rt.pipeline.act([alert_id], Action(got.action), actor=f"{got.actor} ({SERVICE[kind]})", text=text)
    except (Conflict, NotFound) as exc:
        return alert_id, f"no change: {exc}"
    return alert_id, text


ROUTES = [inbound]
