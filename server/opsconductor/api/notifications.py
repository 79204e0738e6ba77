"""The notification API: the outbox (list, retry) and the receivers (list, test)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import httpx
import msgspec
from litestar import get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter

from opsconductor.api.contract import NoBody, errors
from opsconductor.api.params import ID_BOUNDS, MAX_ID, IdPath
from opsconductor.errors import Conflict, NotFound
from opsconductor.model.alert import AlertStatus
from opsconductor.notify import outbox_queries as outbox
from opsconductor.notify.receivers.base import Delivery, Item
from opsconductor.notify.service import NotifyService
from opsconductor.notify.tables import PENDING, SENDING
from opsconductor.runtime import Runtime


def _service(rt: Runtime) -> NotifyService:
    service = rt.notify
    if service is None:
        raise NotFound("the notify stage is not installed")
    return service


class NotificationView(msgspec.Struct):
    """One outbox row: a transition of an alert for a receiver, and how its delivery went."""

    id: int
    alert_id: int
    receiver: str
    route: str
    transition: str
    status: Literal["pending", "sending", "sent", "dead"]
    attempts: int
    idempotency_key: str
    group_key: str
    created_at: datetime
    due_at: datetime
    sent_at: datetime | None
    last_error: str | None
    last_status_code: int | None


class NotificationPage(msgspec.Struct):
    notifications: list[NotificationView]
    next_before_id: int | None


class ReceiverView(msgspec.Struct):
    """A configured receiver: secret references only (never values) and its queue."""

    name: str
    kind: str
    concurrency: int
    timeout_s: float
    max_age_s: float
    secrets: dict[str, str]
    headers: list[str]
    options: dict[str, Any]
    templates: list[str]
    enabled: bool
    disabled_reason: str | None
    queue_depth: int
    counts: dict[str, int]


class ReceiverList(msgspec.Struct):
    receivers: list[ReceiverView]


class ReceiverTestResult(msgspec.Struct):
    receiver: str
    ok: bool
    status_code: int | None
    error: str | None


class ReceiversReloaded(msgspec.Struct):
    receivers: list[str]
    disabled: dict[str, str]


def _view(r: Any) -> NotificationView:
    return NotificationView(
        id=r["id"], alert_id=r["alert_id"], receiver=r["receiver"], route=r["route_id"],
        transition=r["transition"], status=r["status"], attempts=r["attempts"],
        idempotency_key=r["idem_key"], group_key=r["group_key"],
        created_at=r["created_at"], due_at=r["due_at"], sent_at=r["sent_at"],
        last_error=r["last_error"], last_status_code=r["last_status_code"],
    )


@get("/api/v1/notifications", opt={"scope": "read"}, tags=["notifications"], responses=errors())
async def list_notifications(
    state: State,
    alert_id: Annotated[int | None, QueryParameter(ge=1, le=MAX_ID, schema_extra=ID_BOUNDS)] = None,
    receiver: Annotated[str | None, QueryParameter()] = None,
    status: Annotated[Literal["pending", "sending", "sent", "dead"] | None, QueryParameter()] = None,
    before_id: Annotated[int | None, QueryParameter(ge=1, le=MAX_ID, schema_extra=ID_BOUNDS,
                                                               description="Page: only ids below this")] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
) -> NotificationPage:
    """Outbox rows, newest first."""
    rt: Runtime = state.runtime
    async with rt.db.read() as conn:
        rows = [_view(r) for r in await outbox.list_notifications(
            conn, alert_id=alert_id, receiver=receiver, status=status, before_id=before_id, limit=limit)]
    return NotificationPage(rows, rows[-1].id if len(rows) == limit else None)


@post("/api/v1/notifications/{notification_id:int}/retry", opt={"scope": "write"}, tags=["notifications"],
      status_code=200, responses=errors(404, 409))
async def retry_notification(state: State, notification_id: IdPath,
                             data: JSONBody[NoBody | None] = None) -> NotificationView:
    """Queue a dead (or waiting) notification again, now; its max_age counts from now."""
    rt: Runtime = state.runtime
    async with rt.db.write() as conn:
        row = await outbox.requeue(conn, notification_id, rt.pipeline.clock())
    _service(rt).wake()
    return _view(row)


@get("/api/v1/receivers", opt={"scope": "read"}, tags=["notifications"], responses=errors())
async def list_receivers(state: State) -> ReceiverList:
    """Configured receivers (secret references only, never values) with their queue depth."""
    rt: Runtime = state.runtime
    service = _service(rt)
    async with rt.db.read() as conn:
        by = await outbox.counts_by_receiver(conn)
    out = []
    for name, rc in sorted(service.config.receivers.items()):
        c = by.get(name, {})
        out.append(msgspec.convert({
            **rc.public(), "enabled": name in service.senders, "disabled_reason": service.disabled.get(name),
            "queue_depth": c.get(PENDING, 0) + c.get(SENDING, 0), "counts": c}, ReceiverView))
    return ReceiverList(out)


@post("/api/v1/receivers/{name:str}/test", opt={"scope": "admin"}, tags=["notifications"], status_code=200,
      responses=errors(404, 409))
async def test_receiver(state: State, name: FromPath[str], data: JSONBody[NoBody | None] = None) -> ReceiverTestResult:
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
             "component": None, "severity": "info", "status": AlertStatus.active.value,
             "summary": "Test notification from OpsConductor",
             "value": None, "labels": {}, "first_seen": now, "last_seen": now}
    item = Item(0, 0, "test", f"oc-test-{name}-{now}", {"alert": alert, "transition": "test", "actor": None},
                links=service.links(0))
    async with httpx.AsyncClient() as client:
        result = await sender.send(client, Delivery([item], item.idem_key, "test"))
    return ReceiverTestResult(name, result.ok, result.status_code, result.error)


@post("/api/v1/receivers/reload", opt={"scope": "admin"}, tags=["notifications"], status_code=200,
      responses=errors(404, 422))
async def reload_receivers(state: State, data: JSONBody[NoBody | None] = None) -> ReceiversReloaded:
    """Re-read the notify file; errors come back as file:line:col and the running config stays."""
    service = _service(state.runtime)
    config = service.reload()
    return ReceiversReloaded(sorted(config.receivers), dict(service.disabled))


ROUTES = [list_notifications, retry_notification, list_receivers, reload_receivers, test_receiver]
