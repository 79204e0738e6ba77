"""Heartbeats: a silent source pages.

A heartbeat is an ``origin`` that must be heard from within ``timeout`` seconds, fed by
``POST /api/v1/heartbeats`` (Alerta's ``/heartbeat``) or by a ``heartbeat:`` rule over
events a source keeps sending (an always-firing Prometheus ``Watchdog``). When its
deadline passes, an event ``resource=<origin>, event=heartbeat_missing`` is appended to the
event log (so it becomes an alert through the one pipeline); the next heartbeat appends the
clear that resolves it. Expiry is claimed with ``UPDATE ... WHERE missing = false``, so
several server processes never page twice for one silence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.correlate.state import HEARTBEATS
from opsconductor.model.event import NormalizedEvent, Severity
from opsconductor.store.event_log import accept_in

EVENT = "heartbeat_missing"
SOURCE = "heartbeat"
MAX_TIMEOUT = 30 * 86_400
_TEMPLATE = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Beat:
    origin: str
    timeout: int
    labels: Mapping[str, str]
    created_by: str


def missing_event(origin: str, timeout: int, labels: Mapping[str, str], *, clear: bool) -> NormalizedEvent:
    """The event a heartbeat's silence (or its return) becomes."""
    sev = labels.get("severity", Severity.major.value)
    severity = Severity.clear if clear else (Severity(sev) if sev in Severity.__members__ else Severity.major)
    summary = (f"heartbeat from {origin} resumed" if clear
               else f"no heartbeat from {origin} within {timeout}s")
    return NormalizedEvent(resource=origin, event=EVENT, severity=severity, summary=summary,
                           labels={k: v for k, v in labels.items() if k != "severity"}, source=SOURCE)


def origin_of(template: str, ev: NormalizedEvent) -> str:
    """A heartbeat rule's origin for one event: its template over the event's fields."""
    def value(m: re.Match[str]) -> str:
        v = ev.field_value(m.group(1))
        return "" if v is None else str(v)

    return _TEMPLATE.sub(value, template).strip() or ev.resource


async def beat(conn: AsyncConnection, b: Beat, now: datetime) -> bool:
    """Record one heartbeat; if its origin was missing, append the clear. Returns whether it recovered."""
    expires = now + timedelta(seconds=b.timeout)
    values = {"timeout": b.timeout, "labels": dict(b.labels), "created_by": b.created_by, "last_seen": now,
              "expires_at": expires, "missing": False}
    row = (await conn.execute(select(HEARTBEATS.c.missing).where(HEARTBEATS.c.origin == b.origin))).first()
    if row is None:
        try:
            async with conn.begin_nested():
                await conn.execute(insert(HEARTBEATS).values(origin=b.origin, **values))
            return False
        except IntegrityError:  # another request created it meanwhile: update below
            row = (await conn.execute(select(HEARTBEATS.c.missing)
                                      .where(HEARTBEATS.c.origin == b.origin))).first()
    was_missing = bool(row is not None and row[0])
    await conn.execute(update(HEARTBEATS).where(HEARTBEATS.c.origin == b.origin).values(**values))
    if was_missing:
        await accept_in(conn, [missing_event(b.origin, b.timeout, b.labels, clear=True)], now)
    return was_missing


async def expire(conn: AsyncConnection, now: datetime) -> int:
    """Append heartbeat_missing for every heartbeat past its deadline; returns how many."""
    due = (await conn.execute(select(HEARTBEATS).where(HEARTBEATS.c.missing == False,  # noqa: E712
                                                       HEARTBEATS.c.expires_at <= now)
                              .order_by(HEARTBEATS.c.expires_at))).mappings().all()
    events: list[NormalizedEvent] = []
    for r in due:
        claimed = await conn.execute(update(HEARTBEATS).where(HEARTBEATS.c.origin == r["origin"],
                                                              HEARTBEATS.c.missing == False)  # noqa: E712
                                     .values(missing=True))
        if claimed.rowcount:
            events.append(missing_event(r["origin"], r["timeout"], r["labels"] or {}, clear=False))
    if events:
        await accept_in(conn, events, now)
    return len(events)


def view(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    def iso(v: datetime) -> str:
        return v.isoformat().replace("+00:00", "Z")

    return {"origin": row["origin"], "timeout": row["timeout"], "labels": row["labels"] or {},
            "created_by": row["created_by"], "last_seen": iso(row["last_seen"]),
            "expires_at": iso(row["expires_at"]),
            "status": "expired" if row["missing"] or row["expires_at"] <= now else "ok",
            "age_s": round(max(0.0, (now - row["last_seen"]).total_seconds()), 3)}


async def list_heartbeats(conn: AsyncConnection, now: datetime) -> list[dict[str, Any]]:
    rows = (await conn.execute(select(HEARTBEATS).order_by(HEARTBEATS.c.origin))).mappings().all()
    return [view(dict(r), now) for r in rows]
