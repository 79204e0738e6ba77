"""Periodic re-evaluation of open alerts: suppressions start and end with their reasons.

A silence or maintenance window that ends, an inhibiting alert that resolves, a
link that stops flapping, a correlation parent that clears: each makes suppressed
alerts ``active`` again (transition ``unsuppressed``); a new silence, window or
inhibiting alert suppresses alerts that are already open (``suppressed``).
Acknowledged alerts keep their status. Each change is one transaction with its
history row and its transition to the notify sink, like every other alert change.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.correlate.correlator import RulesCorrelator
from opsconductor.correlate.state import FLAPS
from opsconductor.correlate.suppress import (
    Context,
    Source,
    SourceIndex,
    active_silences,
    load_flaps,
    refresh_flap,
    row_event,
    suppression,
)
from opsconductor.model.alert import AlertStatus
from opsconductor.store.alert_writer import ALERTS, HISTORY, TransitionSink
from opsconductor.store.lifecycle import SYSTEM_ACTOR, Transition

_OPEN = [AlertStatus.active.value, AlertStatus.acknowledged.value, AlertStatus.suppressed.value]


async def reevaluate(conn: AsyncConnection, correlator: RulesCorrelator, now: datetime,
                     sink: TransitionSink) -> int:
    """Re-decide suppression of every open alert; returns how many changed status or reason."""
    compiled = correlator.current
    rows = [dict(r) for r in (await conn.execute(select(ALERTS).where(ALERTS.c.status.in_(_OPEN)))).mappings()]
    if not rows:
        return 0
    events = [row_event(r) for r in rows]
    matched = await asyncio.to_thread(compiled.classify_plans, events)
    ctx = Context(now=now, silences=await active_silences(conn, now), patterns=compiled._ref_patterns)
    ctx.sources = SourceIndex(compiled.ruleset.of_kind("inhibit"),
                              [Source(r["fingerprint"], e, r["id"]) for r, e in zip(rows, events, strict=True)],
                              compiled._ref_patterns)
    fps = [r["fingerprint"] for r in rows]
    flap_rules = {r.id: r for r in compiled.ruleset.of_kind("flap")}
    flaps = await load_flaps(conn, fps)
    changed_flaps = []
    for fp, f in flaps.items():
        rule = flap_rules.get(f.rule_id)
        fresh = refresh_flap(f, rule.flap_within, now, rule.flap_changes) if rule else refresh_flap(f, 0, now, 1 << 30)
        if fresh.flapping != f.flapping or fresh.changes != f.changes:
            changed_flaps.append(fresh)
        flaps[fp] = fresh
    ctx.flaps = flaps
    await correlator._load_members(conn, compiled, fps, ctx)

    updates: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    transitions: list[Transition] = []
    for row, ev, slots in zip(rows, events, matched, strict=True):
        if row["status"] == AlertStatus.acknowledged.value:
            continue
        trace: list[dict[str, Any]] = []
        reason = suppression(ev, row["fingerprint"], slots, ctx, trace)
        status = row["status"]
        if reason == row["suppressed_reason"] and (reason is None) == (status == AlertStatus.active.value):
            continue
        new = dict(row)
        new.update(suppressed_reason=reason, updated_at=now,
                   status=AlertStatus.suppressed.value if reason else AlertStatus.active.value,
                   trace=[*row["trace"], {"stage": "reevaluate", "at_time": now.isoformat(),
                                          "detail": f"suppressed: {reason}" if reason else "suppression ended"},
                          *trace])
        updates.append({"_id": row["id"], "status": new["status"], "suppressed_reason": reason,
                        "updated_at": now, "trace": new["trace"]})
        if new["status"] != status:
            text = f"suppressed: {reason}" if reason else f"suppression ended ({row['suppressed_reason']})"
            history.append({"alert_id": row["id"], "at": now, "kind": "status", "status": new["status"],
                            "severity": row["severity"], "previous_status": status, "previous_severity": None,
                            "text": text, "actor": SYSTEM_ACTOR, "event_id": None})
            transitions.append(Transition("suppressed" if reason else "unsuppressed", new, status, row["severity"],
                                          text=text))
    if changed_flaps:
        await conn.execute(update(FLAPS).where(FLAPS.c.fingerprint == bindparam("_fp"))
                           .values(changes=bindparam("changes"), flapping=bindparam("flapping"), updated_at=now),
                           [{"_fp": f.fingerprint, "changes": f.changes, "flapping": f.flapping}
                            for f in changed_flaps])
    if updates:
        await conn.execute(update(ALERTS).where(ALERTS.c.id == bindparam("_id")).values(
            status=bindparam("status"), suppressed_reason=bindparam("suppressed_reason"),
            updated_at=bindparam("updated_at"), trace=bindparam("trace")), updates)
    if history:
        await conn.execute(insert(HISTORY), history)
    if transitions:
        await sink.on_transitions(conn, transitions)
    return len(updates)
