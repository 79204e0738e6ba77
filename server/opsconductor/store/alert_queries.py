"""Read side of the alert table: filters, keyset pagination, counts, one alert with history."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from opsconductor.errors import InputError, NotFound
from opsconductor.model.alert import OPEN_STATUSES, AlertStatus
from opsconductor.model.event import SEVERITY_RANK, Severity
from opsconductor.model.lifecycle import Row
from opsconductor.store.alert_writer import ALERTS, HISTORY

SEVERITY_ORDER = case({s.value: r for s, r in SEVERITY_RANK.items()}, value=ALERTS.c.severity, else_=-1)
SORTABLE: dict[str, ColumnElement[Any]] = {
    "id": ALERTS.c.id,
    "last_seen": ALERTS.c.last_seen,
    "first_seen": ALERTS.c.first_seen,
    "duplicate_count": ALERTS.c.duplicate_count,
    "severity": SEVERITY_ORDER,
}
MAX_LIMIT = 1000
MAX_INT = 2**63 - 1  # BIGINT: a cursor holding more would overflow the query parameter


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts: by default the open ones (not resolved, not expired)."""

    status: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()
    resource: tuple[str, ...] = ()
    event: tuple[str, ...] = ()
    component: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    q: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    ids: tuple[int, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name, t in (("since", self.since), ("until", self.until)):
            if t is None:
                continue
            if t.tzinfo is None:
                raise InputError(f"{name} must carry a timezone offset (RFC 3339, e.g. 2026-01-01T00:00:00Z)")
            try:
                object.__setattr__(self, name, t.astimezone(UTC))  # the database compares UTC instants
            except OverflowError:
                raise InputError(f"{name} is outside the range of representable times") from None
        for s in self.status:
            if s not in AlertStatus.__members__:
                raise InputError(f"unknown status {s!r}; one of {', '.join(AlertStatus)}")
        for s in self.severity:
            if s not in Severity.__members__:
                raise InputError(f"unknown severity {s!r}; one of {', '.join(Severity)}")

    def where(self) -> list[ColumnElement[bool]]:
        c = ALERTS.c
        statuses = self.status or tuple(s.value for s in OPEN_STATUSES)
        conds: list[ColumnElement[bool]] = [c.status.in_(statuses)] if not self.ids else []
        if self.ids:
            conds.append(c.id.in_(self.ids))
            if self.status:
                conds.append(c.status.in_(self.status))
        for col, values in ((c.severity, self.severity), (c.resource, self.resource), (c.event, self.event),
                            (c.component, self.component)):
            if values:
                conds.append(col.in_(values))
        for key, value in self.labels:
            conds.append(c.labels[key].as_string() == value)
        if self.q:
            pattern = f"%{self.q}%"
            conds.append(or_(c.resource.ilike(pattern), c.event.ilike(pattern), c.summary.ilike(pattern),
                             c.component.ilike(pattern)))
        if self.since:
            conds.append(c.last_seen >= self.since)
        if self.until:
            conds.append(c.last_seen < self.until)
        return conds


def parse_label_filters(values: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for v in values:
        key, sep, val = v.partition(":")
        if not sep or not key:
            raise InputError(f"label filter {v!r} must look like name:value, e.g. site:ams")
        if '"' in key:  # SQLite's JSON path cannot quote it
            raise InputError("a label name in a filter cannot contain a double quote")
        out.append((key, val))
    return tuple(out)


def _encode_cursor(sort: str, value: Any, alert_id: int) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps([sort, value, alert_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        got_sort, value, alert_id = json.loads(raw)
        if got_sort != sort or not isinstance(alert_id, int) or not -MAX_INT <= alert_id <= MAX_INT:
            raise ValueError
        if sort.lstrip("+-") in ("last_seen", "first_seen"):
            when = datetime.fromisoformat(value)
            if when.tzinfo is None or when.isoformat() != value:  # only what _encode_cursor wrote
                raise ValueError
            value = when
        elif not isinstance(value, int) or not -MAX_INT <= value <= MAX_INT:
            raise ValueError
    except (ValueError, TypeError, json.JSONDecodeError):
        raise InputError("invalid cursor: use the next_cursor of a previous page with the same sort") from None
    return value, alert_id


def _sort_spec(sort: str) -> tuple[str, bool]:
    desc = sort.startswith("-")
    name = sort.lstrip("-+")
    if name not in SORTABLE:
        raise InputError(f"cannot sort by {name!r}; one of {', '.join(SORTABLE)} (prefix - for descending)")
    return name, desc


async def list_alerts(conn: AsyncConnection, flt: AlertFilter, *, sort: str = "-last_seen", limit: int = 100,
                      cursor: str | None = None) -> tuple[list[Row], str | None]:
    """One page of alerts and the cursor of the next page (None at the end)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit must be between 1 and {MAX_LIMIT}")
    name, desc = _sort_spec(sort)
    key = SORTABLE[name]
    stmt: Select[Any] = select(ALERTS, key.label("_sortkey")).where(and_(True, *flt.where()))
    if cursor:
        value, last_id = _decode_cursor(cursor, sort)
        if desc:
            stmt = stmt.where(or_(key < value, and_(key == value, ALERTS.c.id < last_id)))
        else:
            stmt = stmt.where(or_(key > value, and_(key == value, ALERTS.c.id > last_id)))
    order = (key.desc(), ALERTS.c.id.desc()) if desc else (key.asc(), ALERTS.c.id.asc())
    rows = [dict(r) for r in (await conn.execute(stmt.order_by(*order).limit(limit + 1))).mappings()]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode_cursor(sort, last["_sortkey"], last["id"])
    for r in rows:
        r.pop("_sortkey", None)
    return rows, next_cursor


async def matching_ids(conn: AsyncConnection, flt: AlertFilter, limit: int = 10_000) -> list[int]:
    stmt = select(ALERTS.c.id).where(and_(True, *flt.where())).order_by(ALERTS.c.id).limit(limit)
    return list((await conn.execute(stmt)).scalars().all())


async def get_alert(conn: AsyncConnection, alert_id: int) -> tuple[Row, list[Row]]:
    row = (await conn.execute(select(ALERTS).where(ALERTS.c.id == alert_id))).mappings().first()
    if row is None:
        raise NotFound(f"no alert with id {alert_id}")
    history = (await conn.execute(
        select(HISTORY).where(HISTORY.c.alert_id == alert_id).order_by(HISTORY.c.id)
    )).mappings()
    return dict(row), [dict(h) for h in history]


async def count_alerts(conn: AsyncConnection) -> dict[str, dict[str, int]]:
    """Counts per severity x status, for dashboards."""
    rows = (await conn.execute(
        select(ALERTS.c.severity, ALERTS.c.status, func.count()).group_by(ALERTS.c.severity, ALERTS.c.status)
    )).all()
    out: dict[str, dict[str, int]] = {s.value: {st.value: 0 for st in AlertStatus} for s in Severity}
    for severity, status, n in rows:
        out.setdefault(severity, {})[status] = int(n)
    return out


async def due_for_expiry(conn: AsyncConnection, now: datetime, limit: int = 1000) -> list[int]:
    """Open alerts whose last_seen + timeout has passed, oldest first."""
    stmt = (
        select(ALERTS.c.id)
        .where(ALERTS.c.status.in_([s.value for s in OPEN_STATUSES]), ALERTS.c.expires_at.is_not(None),
               ALERTS.c.expires_at < now)
        .order_by(ALERTS.c.expires_at)
        .limit(limit)
    )
    return list((await conn.execute(stmt)).scalars().all())


async def list_children(conn: AsyncConnection, parent_id: int) -> list[Row]:
    """Every alert (open or closed) whose ``parent_id`` is this alert (an incident's children), oldest first."""
    rows = (await conn.execute(select(ALERTS).where(ALERTS.c.parent_id == parent_id).order_by(ALERTS.c.id))).mappings()
    return [dict(r) for r in rows]
