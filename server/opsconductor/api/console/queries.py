"""The few reads the console needs beyond the alert API: children, notifications, silence preview."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.correlate.matchers import Matcher, matches
from opsconductor.correlate.suppress import row_event
from opsconductor.model.alert import OPEN_STATUSES
from opsconductor.model.lifecycle import Row
from opsconductor.notify.tables import NOTIFICATIONS
from opsconductor.store.alert_writer import ALERTS, HISTORY

OPEN = [s.value for s in OPEN_STATUSES]
PREVIEW_SCAN = 10_000  # open alerts a silence preview looks at


async def children_of(conn: AsyncConnection, parents: Sequence[Row]) -> dict[int, list[Row]]:
    """Open children (``parent_id``) of each correlation parent, by parent id; one query."""
    ids = [p["id"] for p in parents if (p.get("labels") or {}).get("correlated_by")]
    out: dict[int, list[Row]] = {i: [] for i in ids}
    if not ids:
        return out
    stmt = (select(ALERTS).where(ALERTS.c.parent_id.in_(ids), ALERTS.c.status.in_(OPEN))
            .order_by(ALERTS.c.id).limit(500 * len(ids)))
    for r in (await conn.execute(stmt)).mappings():
        if len(out[r["parent_id"]]) < 500:
            out[r["parent_id"]].append(dict(r))
    return out


async def parents_of(conn: AsyncConnection, row: Row) -> list[Row]:
    """The open correlation parent this alert is a child of (``parent_id``), if any."""
    if not row.get("parent_id"):
        return []
    found = await conn.execute(select(ALERTS).where(ALERTS.c.id == row["parent_id"], ALERTS.c.status.in_(OPEN)))
    return [dict(r) for r in found.mappings()]


async def latest_ack_texts(conn: AsyncConnection, alert_ids: Sequence[int]) -> dict[int, str | None]:
    """The text of each alert's latest ack (a shelve says until when)."""
    if not alert_ids:
        return {}
    latest = (select(func.max(HISTORY.c.id)).where(HISTORY.c.alert_id.in_(list(alert_ids)), HISTORY.c.kind == "ack")
              .group_by(HISTORY.c.alert_id))
    rows = await conn.execute(select(HISTORY.c.alert_id, HISTORY.c.text).where(HISTORY.c.id.in_(latest)))
    return {r.alert_id: r.text for r in rows}


async def notifications_of(conn: AsyncConnection, alert_id: int, limit: int = 100) -> list[Row]:
    n = NOTIFICATIONS.c
    stmt = (select(n.id, n.receiver, n.route_id, n.transition, n.status, n.attempts, n.created_at, n.sent_at,
                   n.last_error, n.last_status_code)
            .where(n.alert_id == alert_id).order_by(n.id.desc()).limit(limit))
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def preview(conn: AsyncConnection, matcher: Matcher, limit: int = 50) -> tuple[int, list[Row], bool]:
    """Open alerts a silence with this matcher would hit: (count, the first ``limit``, scan truncated)."""
    stmt = select(ALERTS).where(ALERTS.c.status.in_(OPEN)).order_by(ALERTS.c.id.desc()).limit(PREVIEW_SCAN + 1)
    rows = [dict(r) for r in (await conn.execute(stmt)).mappings()]
    truncated = len(rows) > PREVIEW_SCAN
    hits = [r for r in rows[:PREVIEW_SCAN] if matches(matcher, row_event(r))]
    return len(hits), hits[:limit], truncated
