"""Operator and housekeeping actions on alerts: ack, unack, resolve, note, expire.

Each action is one transaction that changes the row, appends history and hands
the transition to the notify sink, exactly like event processing does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.errors import Conflict, NotFound
from opsconductor.model.alert import OPEN_STATUSES, AlertStatus
from opsconductor.model.event import Severity
from opsconductor.store.alert_writer import ALERTS, HISTORY, TransitionSink
from opsconductor.store.lifecycle import Row, Transition


class Action(StrEnum):
    ack = "ack"
    unack = "unack"
    resolve = "resolve"
    note = "note"
    expire = "expire"


_OPEN = [s.value for s in OPEN_STATUSES]


def plan_action(
    row: Row, action: Action, actor: str, now: datetime, text: str | None
) -> tuple[Row, Row, Transition | None]:
    """Pure: the new row, the history entry and the transition for an action; Conflict if not allowed."""
    status = row["status"]
    new = dict(row)
    new["updated_at"] = now
    kind = "status"
    transition: str | None = None
    if action is Action.note:
        kind = "note"
    elif status not in _OPEN:
        raise Conflict(f"alert {row['id']} is {status}; {action.value} applies to open alerts only")
    elif action is Action.ack:
        if status == AlertStatus.acknowledged:
            raise Conflict(f"alert {row['id']} is already acknowledged")
        new.update(status=AlertStatus.acknowledged.value, acknowledged_by=actor, acknowledged_at=now)
        kind, transition = "ack", "acknowledged"
    elif action is Action.unack:
        if status != AlertStatus.acknowledged:
            raise Conflict(f"alert {row['id']} is not acknowledged")
        back = AlertStatus.suppressed if row.get("suppressed_reason") else AlertStatus.active
        new.update(status=back.value, acknowledged_by=None, acknowledged_at=None)
        kind, transition = "unack", "unacknowledged"
    elif action is Action.resolve:
        new.update(status=AlertStatus.resolved.value, resolved_at=now, previous_severity=row["severity"],
                   severity=Severity.clear.value, expires_at=None)
        transition = "resolved"
    elif action is Action.expire:
        new.update(status=AlertStatus.expired.value, resolved_at=now, expires_at=None)
        transition = "expired"
    history = {
        "alert_id": row["id"], "at": now, "kind": kind, "status": new["status"], "severity": new["severity"],
        "previous_status": status, "previous_severity": row["severity"] if new["severity"] != row["severity"] else None,
        "text": text, "actor": actor, "event_id": None,
    }
    t = Transition(transition, new, status, row["severity"], actor=actor, text=text) if transition else None
    return new, history, t


async def apply_action(
    conn: AsyncConnection, alert_ids: Sequence[int], action: Action, *, actor: str, now: datetime,
    text: str | None, sink: TransitionSink, skip_conflicts: bool = False,
) -> list[Row]:
    """Apply an action to alerts by id; returns the updated rows. NotFound/Conflict unless skipping."""
    stmt = select(ALERTS).where(ALERTS.c.id.in_(list(alert_ids)))
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    rows = {r["id"]: dict(r) for r in (await conn.execute(stmt)).mappings()}
    missing = [i for i in alert_ids if i not in rows]
    if missing and not skip_conflicts:
        raise NotFound(f"no alert with id {missing[0]}")
    out: list[Row] = []
    histories: list[Row] = []
    transitions: list[Transition] = []
    for alert_id in alert_ids:
        if alert_id not in rows:
            continue
        try:
            new, hist, t = plan_action(rows[alert_id], action, actor, now, text)
        except Conflict:
            if skip_conflicts:
                continue
            raise
        if action is not Action.note:
            values = {k: new[k] for k in ("status", "severity", "previous_severity", "acknowledged_by",
                                          "acknowledged_at", "resolved_at", "expires_at", "updated_at")}
            await conn.execute(update(ALERTS).where(ALERTS.c.id == alert_id).values(values))
        histories.append(hist)
        if t:
            transitions.append(t)
        out.append(new)
    if histories:
        await conn.execute(insert(HISTORY), histories)
    if transitions:
        await sink.on_transitions(conn, transitions)
    return out


async def due_for_expiry(conn: AsyncConnection, now: datetime, limit: int = 1000) -> list[int]:
    stmt = (
        select(ALERTS.c.id)
        .where(ALERTS.c.status.in_(_OPEN), ALERTS.c.expires_at.is_not(None), ALERTS.c.expires_at < now)
        .order_by(ALERTS.c.expires_at)
        .limit(limit)
    )
    return list((await conn.execute(stmt)).scalars().all())
