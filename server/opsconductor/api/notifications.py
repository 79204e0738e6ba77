"""The notification API: the outbox (list, retry) and the receivers (list, test)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
from litestar import get, post
from litestar.datastructures import State
from litestar.params import FromPath, QueryParameter
from sqlalchemy import func, select, update

from opsconductor.errors import Conflict, InputError, NotFound
from opsconductor.notify.receivers.base import Delivery, Item
from opsconductor.notify.service import NotifyService
from opsconductor.notify.tables import ATTEMPTS, DEAD, INBOUND, NOTIFICATIONS, PENDING, SENDING, STATUSES
from opsconductor.runtime import Runtime
from opsconductor.store.alert_writer import ALERTS

N = NOTIFICATIONS


def _service(rt: Runtime) -> NotifyService:
    service: NotifyService | None = rt.components.get("notify")
    if service is None:
        raise NotFound("the notify stage is not installed")
    return service


def _view(r: Any) -> dict[str, Any]:
    return {
        "id": r["id"], "alert_id": r["alert_id"], "receiver": r["receiver"], "route": r["route_id"],
        "transition": r["transition"], "status": r["status"], "attempts": r["attempts"],
        "idempotency_key": r["idem_key"], "group_key": r["group_key"],
        "created_at": r["created_at"], "due_at": r["due_at"], "sent_at": r["sent_at"],
        "last_error": r["last_error"], "last_status_code": r["last_status_code"],
    }


@get("/api/v1/notifications", opt={"scope": "read"}, tags=["notifications"])
async def list_notifications(
    state: State,
    alert_id: Annotated[int | None, QueryParameter()] = None,
    receiver: Annotated[str | None, QueryParameter()] = None,
    status: Annotated[str | None, QueryParameter(description="pending|sending|sent|dead")] = None,
    before_id: Annotated[int | None, QueryParameter(description="Page: only ids below this")] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Outbox rows, newest first."""
    rt: Runtime = state.runtime
    if status is not None and status not in STATUSES:
        raise InputError(f"status must be one of {', '.join(STATUSES)}")
    stmt = select(N).order_by(N.c.id.desc()).limit(limit)
    if alert_id is not None:
        stmt = stmt.where(N.c.alert_id == alert_id)
    if receiver is not None:
        stmt = stmt.where(N.c.receiver == receiver)
    if status is not None:
        stmt = stmt.where(N.c.status == status)
    if before_id is not None:
        stmt = stmt.where(N.c.id < before_id)
    async with rt.db.read() as conn:
        rows = [_view(r) for r in (await conn.execute(stmt)).mappings()]
    return {"notifications": rows, "next_before_id": rows[-1]["id"] if len(rows) == limit else None}


def _attempt(r: Any) -> dict[str, Any]:
    return {
        "at": r["at"], "notification_id": r["notification_id"], "receiver": r["receiver"],
        "transition": r["transition"], "outcome": r["outcome"], "status_code": r["status_code"],
        "external_id": r["external_id"], "error": r["error"], "summary": r["summary"],
        "duration_ms": r["duration_ms"],
    }


@get("/api/v1/alerts/{alert_id:int}/notifications", opt={"scope": "read"}, tags=["notifications"])
async def alert_notifications(
    state: State, alert_id: FromPath[int],
    limit: Annotated[int, QueryParameter(ge=1, le=1000, description="Most attempts listed")] = 500,
) -> dict[str, Any]:
    """The alert's delivery audit: its notifications, and every attempt, oldest first, with what was sent
    (the rendered title), the external id, what came back (status code, redacted error) and how long it
    took; plus the changes that came back from the receivers (two-way sync)."""
    rt: Runtime = state.runtime
    async with rt.db.read() as conn:
        if (await conn.execute(select(ALERTS.c.id).where(ALERTS.c.id == alert_id))).first() is None:
            raise NotFound(f"no alert with id {alert_id}")
        notes = [_view(r) for r in (await conn.execute(
            select(N).where(N.c.alert_id == alert_id).order_by(N.c.id))).mappings()]
        tries = [_attempt(r) for r in (await conn.execute(
            select(ATTEMPTS).where(ATTEMPTS.c.alert_id == alert_id).order_by(ATTEMPTS.c.id).limit(limit))).mappings()]
        inbound = [{"at": r["received_at"], "receiver": r["receiver"], "action": r["action"], "actor": r["actor"],
                    "outcome": r["outcome"]} for r in (await conn.execute(
            select(INBOUND).where(INBOUND.c.alert_id == alert_id).order_by(INBOUND.c.id).limit(limit))).mappings()]
    return {"alert_id": alert_id, "notifications": notes, "attempts": tries, "inbound": inbound}


@post("/api/v1/notifications/{notification_id:int}/retry", opt={"scope": "write"}, tags=["notifications"],
      status_code=200)
async def retry_notification(state: State, notification_id: FromPath[int]) -> dict[str, Any]:
    """Queue a dead (or waiting) notification again, now; its max_age counts from now."""
    rt: Runtime = state.runtime
    now = rt.pipeline.clock()
    async with rt.db.write() as conn:
        row = (await conn.execute(select(N).where(N.c.id == notification_id))).mappings().first()
        if row is None:
            raise NotFound(f"notification {notification_id} does not exist")
        if row["status"] not in (DEAD, PENDING):
            raise Conflict(f"notification {notification_id} is {row['status']}; only dead or pending ones are retried")
        await conn.execute(update(N).where(N.c.id == notification_id).values(
            status=PENDING, due_at=now, created_at=now, lease_until=None))
        row = (await conn.execute(select(N).where(N.c.id == notification_id))).mappings().one()
    _service(rt).wake()
    return _view(row)


@get("/api/v1/receivers", opt={"scope": "read"}, tags=["notifications"])
async def list_receivers(state: State) -> dict[str, Any]:
    """Configured receivers (secret references only, never values) with their queue depth."""
    rt: Runtime = state.runtime
    service = _service(rt)
    async with rt.db.read() as conn:
        counts = (await conn.execute(select(N.c.receiver, N.c.status, func.count()).group_by(N.c.receiver,
                                                                                              N.c.status))).all()
    by: dict[str, dict[str, int]] = {}
    for name, status, n in counts:
        by.setdefault(name, {})[status] = int(n)
    out = []
    for name, rc in sorted(service.config.receivers.items()):
        view = rc.public()
        view["enabled"] = name in service.senders
        view["disabled_reason"] = service.disabled.get(name)
        c = by.get(name, {})
        view["queue_depth"] = c.get(PENDING, 0) + c.get(SENDING, 0)
        view["counts"] = c
        out.append(view)
    return {"receivers": out}


@post("/api/v1/receivers/{name:str}/test", opt={"scope": "admin"}, tags=["notifications"], status_code=200)
async def test_receiver(state: State, name: FromPath[str]) -> dict[str, Any]:
    """Send a test notification about a made-up alert (id 0) right now, bypassing the outbox."""
    rt: Runtime = state.runtime
    service = _service(rt)
    if name not in service.config.receivers:
        raise NotFound(f"receiver {name!r} does not exist")
    sender = service.senders.get(name)
    if sender is None:
        raise Conflict(f"receiver {name!r} is disabled: {service.disabled.get(name)}")
    now = datetime.now(UTC).isoformat()
    alert = {"id": 0, "fingerprint": "test", "resource": "opsconductor", "event": "test_notification",
             "component": None, "severity": "info", "status": "active",
             "summary": "Test notification from OpsConductor",
             "value": None, "labels": {}, "first_seen": now, "last_seen": now}
    item = Item(0, 0, "test", f"oc-test-{name}-{now}", {"alert": alert, "transition": "test", "actor": None},
                links=service.links(0))
    async with httpx.AsyncClient() as client:
        result = await sender.send(client, Delivery([item], item.idem_key, "test"))
    return {"receiver": name, "ok": result.ok, "status_code": result.status_code, "error": result.error}


@post("/api/v1/receivers/reload", opt={"scope": "admin"}, tags=["notifications"], status_code=200)
async def reload_receivers(state: State) -> dict[str, Any]:
    """Re-read the notify file; errors come back as file:line:col and the running config stays."""
    service = _service(state.runtime)
    config = service.reload()
    return {"receivers": sorted(config.receivers), "disabled": service.disabled}


from opsconductor.api import inbound  # noqa: E402  (two-way sync: its route ships with this module's)

ROUTES = [*inbound.ROUTES, list_notifications, alert_notifications, retry_notification, list_receivers,
          reload_receivers, test_receiver]
