"""Correlation parents behave like incidents.

- Every child (an open member of a correlation group) carries ``parent_id`` once its
  parent alert is open, including children that open after the parent (late children).
- The parent's severity is the highest among its open children, unless the rule pins
  one (``raise: {severity: ...}``). A change is appended to the event log as a parent
  event, so the one lifecycle applies it (history, transition, notification).
- When the parent resolves is decided by the correlator (``resolve: all|any``).

Runs in the batch transaction, after the store applied the batch's decisions; the parent
updates go back to the pipeline, which accepts them like every derived event.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.correlate.evaluate import parent_event
from opsconductor.correlate.rules import RuleSet
from opsconductor.correlate.state import MEMBERS
from opsconductor.model.decision import Decision
from opsconductor.model.event import SEVERITY_RANK, NormalizedEvent, Severity
from opsconductor.store.alert_writer import ALERTS, link_children
from opsconductor.store.partitions import require_global
from opsconductor.store.tables import OPEN_STATUS_SQL

PARENT_SOURCE = "opsconductor"


def highest(severities: Iterable[str | Severity | None]) -> Severity | None:
    """The most severe of these (clear and unknown values ignored), or None."""
    best: Severity | None = None
    for s in severities:
        try:
            sev = Severity(s) if s is not None else None
        except ValueError:
            continue
        if sev is None or sev is Severity.clear:
            continue
        if best is None or SEVERITY_RANK[sev] > SEVERITY_RANK[best]:
            best = sev
    return best


def _values_of(key: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in key.split("\x1f") if "=" in part)


async def _member_fps(conn: AsyncConnection, rule_id: str, key: str) -> list[str]:
    stmt = select(MEMBERS.c.fingerprint).where(MEMBERS.c.rule_id == rule_id, MEMBERS.c.group_key == key,
                                               MEMBERS.c.open == True)  # noqa: E712
    return list((await conn.execute(stmt)).scalars().all())


async def highest_child_severity(conn: AsyncConnection, rule_id: str, key: str, batch_fps: Iterable[str],
                                 severity_of: dict[str, Severity]) -> Severity | None:
    """The highest severity among a group's open members: stored alerts plus this batch's own."""
    fps = await _member_fps(conn, rule_id, key)
    stored: list[str] = []
    if fps:
        stmt = select(ALERTS.c.severity).where(ALERTS.c.fingerprint.in_(fps), text(OPEN_STATUS_SQL))
        stored = list((await conn.execute(stmt)).scalars().all())
    return highest([*stored, *(severity_of.get(f) for f in batch_fps)])


def is_parent_event(ev: NormalizedEvent) -> bool:
    return ev.source == PARENT_SOURCE and "correlated_by" in ev.labels and "correlation_key" in ev.labels


async def link_incidents(conn: AsyncConnection, ruleset: RuleSet, decisions: Sequence[Decision]
                         ) -> list[NormalizedEvent]:
    """After a batch was applied: link the children of every parent it touched and make each
    parent's severity follow its children. Returns the parent updates, for the pipeline to accept."""
    parents = {d.parent_fingerprint for d in decisions if d.parent_fingerprint and not d.drop}
    parents |= {d.fingerprint for d in decisions if not d.drop and is_parent_event(d.event)}
    if not parents:
        return []
    require_global(conn, "incident links")  # parents and children span partitions
    stmt = select(ALERTS.c.id, ALERTS.c.fingerprint, ALERTS.c.severity, ALERTS.c.labels).where(
        ALERTS.c.fingerprint.in_(sorted(parents)), text(OPEN_STATUS_SQL))
    rows = [dict(r) for r in (await conn.execute(stmt)).mappings()]
    derived: list[NormalizedEvent] = []
    for p in sorted(rows, key=lambda r: r["id"]):
        labels: dict[str, Any] = p["labels"] or {}
        rule = ruleset.by_id.get(str(labels.get("correlated_by")))
        key = str(labels.get("correlation_key", ""))
        if rule is None or rule.kind != "correlate" or rule.raise_ is None:
            continue
        members = select(MEMBERS.c.fingerprint).where(MEMBERS.c.rule_id == rule.id, MEMBERS.c.group_key == key,
                                                      MEMBERS.c.open == True)  # noqa: E712
        await link_children(conn, p["id"], members)  # one statement, by the one writer
        if rule.raise_.severity is not None:
            continue  # pinned by the rule
        sevs = (await conn.execute(select(ALERTS.c.severity).where(ALERTS.c.parent_id == p["id"],
                                                                   text(OPEN_STATUS_SQL)))).scalars().all()
        top = highest(sevs)
        if top is not None and top.value != p["severity"]:
            derived.append(parent_event(rule, _values_of(key), severity=top))
    return derived
