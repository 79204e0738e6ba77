"""The few reads the console needs beyond the alert API: children, notifications, silence preview."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.correlate.matchers import Matcher, matches
from opsconductor.correlate.state import MEMBERS
from opsconductor.correlate.suppress import row_event
from opsconductor.model.alert import OPEN_STATUSES
from opsconductor.model.lifecycle import Row
from opsconductor.notify.tables import NOTIFICATIONS
from opsconductor.store.alert_writer import ALERTS, HISTORY

OPEN = [s.value for s in OPEN_STATUSES]
PREVIEW_SCAN = 10_000  # open alerts a silence preview looks at


def parent_key(row: Row) -> tuple[str, str] | None:
    """Pure: (rule id, group key) when the alert is a correlation parent."""
    labels = row.get("labels") or {}
    rule, key = labels.get("correlated_by"), labels.get("correlation_key")
    return (str(rule), str(key)) if rule and key is not None else None


async def children_of(conn: AsyncConnection, parents: Sequence[Row]) -> dict[int, list[Row]]:
    """Open member alerts of each correlation parent, by parent id."""
    out: dict[int, list[Row]] = {}
    for p in parents:
        key = parent_key(p)
        if key is None:
            continue
        stmt = (select(ALERTS).join(MEMBERS, MEMBERS.c.fingerprint == ALERTS.c.fingerprint)
                .where(and_(MEMBERS.c.rule_id == key[0], MEMBERS.c.group_key == key[1],
                            ALERTS.c.status.in_(OPEN), ALERTS.c.id != p["id"]))
                .order_by(ALERTS.c.id).limit(500))
        out[p["id"]] = [dict(r) for r in (await conn.execute(stmt)).mappings()]
    return out


async def parents_of(conn: AsyncConnection, row: Row) -> list[Row]:
    """Open correlation parents this alert is a member of (normally none or one)."""
    stmt = select(MEMBERS.c.rule_id, MEMBERS.c.group_key).where(MEMBERS.c.fingerprint == row["fingerprint"])
    out: list[Row] = []
    for rule_id, group_key in (await conn.execute(stmt)).all():
        labels = ALERTS.c.labels
        found = await conn.execute(select(ALERTS).where(
            ALERTS.c.status.in_(OPEN), labels["correlated_by"].as_string() == rule_id,
            labels["correlation_key"].as_string() == group_key, ALERTS.c.id != row["id"]).limit(1))
        out += [dict(r) for r in found.mappings()]
    return out


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
