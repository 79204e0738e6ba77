"""Re-evaluation of open alerts: suppressions start and end with their reasons.

A silence or maintenance window that ends, an inhibiting alert that resolves, a
link that stops flapping, a correlation parent that clears: each makes suppressed
alerts ``active`` again (transition ``unsuppressed``); a new silence, window or
inhibiting alert suppresses alerts that are already open (``suppressed``).
Acknowledged alerts keep their status. Each change comes from the state machine
(``Redecide``) and is written by the one writer, with its history row and its
transition to the notify sink, like every other alert change.

Incremental: a pass re-decides only the alerts whose answer can have changed.

- The *world* (rule set version, the set of active silences, which maintenance
  windows are open) changed since the last pass, or every ``full_every`` passes as a
  backstop: every open alert (a full sweep).
- Otherwise: alerts suppressed for flapping (flap changes age out of their window);
  alerts unacknowledged since the last pass; open alerts that an alert changed since the
  last pass (a new row in the alert history: opened, resolved, expired, severity
  changed...) may inhibit or stop inhibiting (same ``resource`` when every inhibit rule
  has it in ``equal``, else a full sweep); the members of a correlation parent that
  opened or closed.

Work is done in pages of :data:`PAGE` alerts, one transaction each (the caller loops
on :meth:`Reevaluator.step`), so memory and the time the write lock is held stay
bounded with 100,000 open alerts; the columns read are the ones matching needs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.correlate.correlator import PARENT_SOURCE, RulesCorrelator
from opsconductor.correlate.evaluate import in_schedule
from opsconductor.correlate.matchers import fields
from opsconductor.correlate.state import FLAPS, MEMBERS
from opsconductor.correlate.suppress import (
    CHUNK,
    Context,
    _column_pin,
    active_silences,
    load_flaps,
    load_source_index,
    refresh_flap,
    row_event,
    suppression,
    unindexed,
)
from opsconductor.model.alert import AlertStatus, HistoryKind
from opsconductor.model.lifecycle import Redecide, transition
from opsconductor.store.alert_writer import ALERTS, HISTORY, TransitionSink, write_redecisions
from opsconductor.store.partitions import require_global

PAGE = 1000
"""Alerts re-decided per transaction."""
FULL_EVERY = 40
"""A full sweep at least every this many passes (a backstop for changes no history row records)."""

_CANDIDATE = [AlertStatus.active.value, AlertStatus.suppressed.value]  # acknowledged alerts keep their status
_NARROW = [ALERTS.c[n] for n in ("id", "fingerprint", "status", "suppressed_reason", "resource", "event",
                                 "component", "severity", "summary", "value", "labels", "source")]


@dataclass
class _Pass:
    full: bool
    after: int = 0  # full sweep: the last alert id done
    ids: list[int] = field(default_factory=list)  # incremental: alert ids still to do
    changed: int = 0


@dataclass
class Reevaluator:
    """Remembers what the last pass saw, to know what the next one must look at."""

    full_every: int = FULL_EVERY
    page: int = PAGE
    _world: tuple[Any, ...] | None = None
    _history_after: int = 0
    _passes: int = 0
    _current: _Pass | None = None
    last_candidates: int = 0  # alerts the current (or last) pass looked at (tests, metrics)
    last_full: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one pass at a time (loop, API)

    async def step(self, conn: AsyncConnection, correlator: RulesCorrelator, now: datetime,
                   sink: TransitionSink) -> int | None:
        """One page of the current pass (starting one if none runs): None while the pass goes on,
        then how many alerts the whole pass changed."""
        try:
            return await self._step(conn, correlator, now, sink)
        except BaseException:
            # the page's transaction rolls back: forget the pass, the next one sweeps everything
            self._current, self._world = None, None
            raise

    async def _step(self, conn: AsyncConnection, correlator: RulesCorrelator, now: datetime,
                    sink: TransitionSink) -> int | None:
        if self._current is None:
            self._current = await self._start(conn, correlator, now)
        p = self._current
        if p.full:
            stmt = (select(*_NARROW).where(unindexed(ALERTS.c.status).in_(_CANDIDATE), ALERTS.c.id > p.after)
                    .order_by(ALERTS.c.id).limit(self.page))
            rows = [dict(r) for r in (await conn.execute(stmt)).mappings()]
            if rows:
                p.after = rows[-1]["id"]
            done = len(rows) < self.page
        else:
            ids, p.ids = p.ids[: self.page], p.ids[self.page :]
            rows = [dict(r) for r in (await conn.execute(
                select(*_NARROW).where(ALERTS.c.id.in_(ids), unindexed(ALERTS.c.status).in_(_CANDIDATE)))).mappings()] \
                if ids else []
            done = not p.ids
        self.last_candidates += len(rows)
        p.changed += await _redecide(conn, correlator, rows, now, sink)
        if not done:
            return None
        self._current = None
        return p.changed

    async def _start(self, conn: AsyncConnection, correlator: RulesCorrelator, now: datetime) -> _Pass:
        compiled = correlator.current
        silences = await active_silences(conn, now)
        windows = frozenset(r.id for r in compiled.ruleset.of_kind("maintenance")
                            if r.schedule is not None and in_schedule(r.schedule, now))
        world = (compiled.version, frozenset(s.id for s in silences), windows)
        top = (await conn.execute(select(func.max(HISTORY.c.id)))).scalar_one_or_none() or 0
        after, self._history_after = self._history_after, int(top)
        self._passes += 1
        self.last_candidates = 0
        full = world != self._world or self._passes % self.full_every == 0
        self._world = world
        self.last_full = full
        if full:
            return _Pass(full=True)
        ids: set[int] = set(await _ids(conn, ALERTS.c.status == AlertStatus.suppressed.value,
                                       or_(ALERTS.c.suppressed_reason.like("flapping%"),
                                           ALERTS.c.suppressed_reason.like("upstream %")),  # settle time ends
                                       by_status=True))
        targets = await _affected_by_changes(conn, correlator, after, int(top))
        if targets is None:
            self.last_full = True
            return _Pass(full=True)
        ids |= targets
        # an alert acknowledged while its reason started or ended is decided again once unacknowledged
        unacked = select(HISTORY.c.alert_id).where(HISTORY.c.id > after, HISTORY.c.id <= top,
                                                   HISTORY.c.kind == HistoryKind.unack.value)
        ids.update(await _ids(conn, ALERTS.c.id.in_(unacked)))
        return _Pass(full=False, ids=sorted(ids))


async def _ids(conn: AsyncConnection, *where: Any, by_status: bool = False) -> list[int]:
    """Ids of active/suppressed alerts; the status narrows by index only if ``by_status``
    (else the other conditions choose the index: resource, id...)."""
    status = ALERTS.c.status if by_status else unindexed(ALERTS.c.status)
    stmt = select(ALERTS.c.id).where(status.in_(_CANDIDATE), *where)
    return [int(i) for i in (await conn.execute(stmt)).scalars().all()]


async def _affected_by_changes(conn: AsyncConnection, correlator: RulesCorrelator, after: int,
                               top: int, *, only: set[int] | None = None) -> set[int] | None:
    """Open alerts whose inhibitor or correlation parent changed in history rows (after, top];
    None when that cannot be narrowed (then the caller sweeps everything). ``only``: look at the
    history of these alerts only (a partition transaction's own)."""
    if top <= after or (only is not None and not only):
        return set()
    compiled = correlator.current
    inhibits = compiled.ruleset.of_kind("inhibit")
    # An alert starts or stops inhibiting (or a parent opens or closes) when it opens or closes;
    # a severity change matters only to a source matcher that looks at the severity.
    kinds = [HistoryKind.created.value, HistoryKind.status.value]
    if any("severity" in fields(r.inhibit_source) for r in inhibits if r.inhibit_source is not None):
        kinds.append(HistoryKind.severity.value)
    changed = select(HISTORY.c.alert_id).where(HISTORY.c.id > after, HISTORY.c.id <= top, HISTORY.c.kind.in_(kinds))
    if only is not None:
        changed = changed.where(HISTORY.c.alert_id.in_(sorted(only)))
    relevant: list[Any] = [ALERTS.c.source == PARENT_SOURCE]
    if inhibits:
        pins = [_column_pin(r.inhibit_source) for r in inhibits if r.inhibit_source is not None]
        if not all(p is not None for p in pins) or not all("resource" in r.equal for r in inhibits):
            # a changed alert may be a source we cannot narrow by: is there any changed alert at all?
            return None
        for p in pins:
            assert p is not None
            relevant.append(ALERTS.c[p[0]].in_(sorted(p[1])))
    stmt = select(*_NARROW).where(ALERTS.c.id.in_(changed), or_(*relevant))
    rows = [dict(r) for r in (await conn.execute(stmt)).mappings()]
    if not rows:
        return set()
    if any(r["source"] == PARENT_SOURCE for r in rows):
        require_global(conn, "a correlation parent changed")
    # A changed alert that matches a source pin may have started or STOPPED inhibiting (its
    # severity or labels changed): its resource is decided again either way, so no plan is needed.
    source_pins = [p for p in (_column_pin(r.inhibit_source) for r in inhibits if r.inhibit_source) if p]
    resources: set[str] = set()
    groups: set[tuple[str, str]] = set()
    for row in rows:
        if any(row[col] in values for col, values in source_pins):
            resources.add(row["resource"])
        labels = row["labels"] or {}
        if row["source"] == PARENT_SOURCE and "correlated_by" in labels:
            groups.add((labels["correlated_by"], labels.get("correlation_key", "")))
    out: set[int] = set()
    res = sorted(resources)
    # only alerts an inhibit rule can target, when every target matcher pins a column
    target_pins = [_column_pin(r.inhibit_target) for r in inhibits if r.inhibit_target is not None]
    narrow: list[Any] = []
    if target_pins and all(p is not None for p in target_pins):
        narrow.append(or_(*(ALERTS.c[p[0]].in_(sorted(p[1])) for p in target_pins if p is not None)))
    for i in range(0, len(res), CHUNK):
        out.update(await _ids(conn, ALERTS.c.resource.in_(res[i : i + CHUNK]), *narrow))
    for rule_id, key in sorted(groups):
        members = select(MEMBERS.c.fingerprint).where(MEMBERS.c.rule_id == rule_id, MEMBERS.c.group_key == key)
        out.update(await _ids(conn, ALERTS.c.fingerprint.in_(members)))
    return out


async def _redecide(conn: AsyncConnection, correlator: RulesCorrelator, rows: list[dict[str, Any]], now: datetime,
                    sink: TransitionSink) -> int:
    """Re-decide the suppression of these (active or suppressed) alerts; returns how many changed."""
    if not rows:
        return 0
    compiled = correlator.current
    events = [row_event(r) for r in rows]
    plans = await asyncio.to_thread(compiled.classify_plans, events)
    ctx = Context(now=now, silences=await active_silences(conn, now), patterns=compiled._ref_patterns)
    targets = [e for e, p in zip(events, plans, strict=True) if p.inhibit_targets]
    if targets:
        ctx.sources = await load_source_index(conn, compiled.ruleset.of_kind("inhibit"), targets,
                                              compiled._ref_patterns)
    fps = sorted({r["fingerprint"] for r in rows})
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
    if compiled.ruleset.of_kind("correlate"):
        await correlator._load_members(conn, compiled, fps, ctx)
    ctx.topology = await correlator.topology_view(conn, compiled, events, now)

    decided: list[tuple[dict[str, Any], str | None, list[dict[str, Any]]]] = []
    for row, ev, plan in zip(rows, events, plans, strict=True):
        trace: list[dict[str, Any]] = []
        reason = suppression(ev, row["fingerprint"], plan, ctx, trace)
        if reason == row["suppressed_reason"] and (reason is None) == (row["status"] == AlertStatus.active.value):
            continue
        decided.append((row, reason, trace))
    if changed_flaps:
        await conn.execute(update(FLAPS).where(FLAPS.c.fingerprint == bindparam("_fp"))
                           .values(changes=bindparam("changes"), flapping=bindparam("flapping"), updated_at=now),
                           [{"_fp": f.fingerprint, "changes": f.changes, "flapping": f.flapping}
                            for f in changed_flaps])
    if not decided:
        return 0
    # Only the alerts that change are read whole (their trace grows; the sink gets the full row).
    full = {r["id"]: dict(r) for r in (await conn.execute(
        select(ALERTS).where(ALERTS.c.id.in_([d[0]["id"] for d in decided])))).mappings()}
    changes = [(full[narrow["id"]], transition(full[narrow["id"]], Redecide(reason, tuple(trace)), now))
               for narrow, reason, trace in decided]
    return await write_redecisions(conn, changes, sink)


async def reevaluate(conn: AsyncConnection, correlator: RulesCorrelator, now: datetime,
                     sink: TransitionSink) -> int:
    """Re-decide the suppression of every open alert in this one transaction (a full sweep)."""
    r = Reevaluator(full_every=1)
    while True:
        changed = await r.step(conn, correlator, now, sink)
        if changed is not None:
            return changed
