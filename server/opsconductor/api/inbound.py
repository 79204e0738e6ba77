"""Two-way sync: ``POST /api/v1/inbound/{receiver}`` takes acks and resolves from the services we notify.

No API key: each request is authenticated by the service's own signature or shared secret (the
receiver's ``inbound_secret``; 401 when it does not verify). The change is applied as an operator
action, in one transaction with a receipt keyed by the service's delivery, so a replayed request
changes nothing; the history says who did it where ("acknowledged by jane@example.com in PagerDuty"),
and the receiver it came from is not told about it again (loop-free).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from litestar import Request, post
from litestar.datastructures import State
from litestar.params import FromPath
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.errors import Conflict, NotFound, Unavailable
from opsconductor.notify.inbound import SERVICE, Inbound, history_text, parse, split_ref
from opsconductor.notify.outbox import FromReceiver
from opsconductor.notify.secrets import SecretUnavailable
from opsconductor.notify.service import NotifyService
from opsconductor.notify.tables import INBOUND, STATE
from opsconductor.runtime import Runtime
from opsconductor.store.alert_actions import Action, apply_action
from opsconductor.store.alert_writer import ALERTS

MAX_BODY = 1_000_000


@post("/api/v1/inbound/{receiver:str}", opt={"public": True}, tags=["notifications"], status_code=200)
async def inbound(state: State, request: Request[Any, Any, Any], receiver: FromPath[str]) -> dict[str, Any]:
    """An ack/resolve from PagerDuty, Opsgenie, Jira, ServiceNow or a Slack button (signed by the service)."""
    rt: Runtime = state.runtime
    service: NotifyService | None = rt.components.get("notify")
    rc = service.config.receivers.get(receiver) if service else None
    if rc is None or "inbound_secret" not in rc.secrets:
        raise NotFound(f"receiver {receiver!r} takes no inbound changes")
    try:
        secret = rc.secrets["inbound_secret"].resolve()
    except SecretUnavailable as exc:
        raise Unavailable(f"receiver {receiver!r}: inbound secret unavailable: {exc}") from None
    body = await request.body()
    got = parse(rc.kind, {k.lower(): v for k, v in request.headers.items()}, body[:MAX_BODY], secret, now=time.time())
    key = f"{receiver[:60]}:{hashlib.sha256(got.replay_key.encode()).hexdigest()}"
    try:
        async with rt.db.write() as conn:
            if (await conn.execute(select(INBOUND.c.id).where(INBOUND.c.key == key))).first() is not None:
                return {"receiver": receiver, "outcome": "duplicate: already applied"}
            alert_id, outcome = await _apply(rt, conn, receiver, rc.kind, got)
            await conn.execute(insert(INBOUND).values(
                receiver=receiver, key=key, received_at=rt.pipeline.clock(), alert_id=alert_id, action=got.action,
                actor=got.actor[:255], outcome=outcome[:255]))
    except IntegrityError:  # the same delivery, concurrently: the other one applied it
        return {"receiver": receiver, "outcome": "duplicate: already applied"}
    return {"receiver": receiver, "alert_id": alert_id, "action": got.action, "outcome": outcome}


async def _apply(rt: Runtime, conn: AsyncConnection, receiver: str, kind: str, got: Inbound
                 ) -> tuple[int | None, str]:
    ref = split_ref(got.ref)
    if ref is None:
        return None, f"not an OpsConductor alert ({got.what})"
    prefix, alert_id = ref
    fp = (await conn.execute(select(ALERTS.c.fingerprint).where(ALERTS.c.id == alert_id))).scalar_one_or_none()
    if fp is None or not str(fp).startswith(prefix):
        return None, "unknown alert"
    if got.message_ts is not None:  # Slack: the button must be on the message we posted for this alert
        ext = (await conn.execute(select(STATE.c.ext_ref).where(STATE.c.alert_id == alert_id,
                                                                STATE.c.receiver == receiver))).scalar_one_or_none()
        if not ext or str(ext.get("ts")) != got.message_ts:
            return None, "unknown message"
    if got.action is None:
        return alert_id, f"ignored: {got.what}"
    text = history_text(got.action, got.actor, kind)
    try:
        await apply_action(conn, [alert_id], Action(got.action), actor=f"{got.actor} ({SERVICE[kind]})",
                           now=rt.pipeline.clock(), text=text, sink=FromReceiver(rt.pipeline.sink, receiver))
    except Conflict as exc:
        return alert_id, f"no change: {exc}"
    return alert_id, text


ROUTES = [inbound]
