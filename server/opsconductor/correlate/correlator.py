"""The rules correlator: turns accepted events into decisions, in the documented order.

    drop -> severity mapping -> dedup identity -> maintenance/silence -> inhibition
         -> flap -> correlation -> (lifecycle, in the store)

Matching (which rules apply to an event) is the engine's job (``compiled.py``);
everything with time or state is here and in the database, inside the pipeline's
batch transaction: flap state, correlation members and the parent alerts that
correlation raises (appended to the event log in the same transaction, so a
parent is exactly as durable as the events that caused it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.correlate.compiled import CompiledRuleSet, Plan
from opsconductor.correlate.enrich import enrich
from opsconductor.correlate.evaluate import (
    FlapRow,
    dedup_fingerprint,
    flap_step,
    group_key,
    group_values,
    mapped_severity,
    parent_event,
    render,
)
from opsconductor.correlate.heartbeats import Beat, beat, origin_of
from opsconductor.correlate.incidents import highest_child_severity, link_incidents
from opsconductor.correlate.rules import Rule
from opsconductor.correlate.state import FLAPS, MEMBERS
from opsconductor.correlate.suppress import (
    CHUNK,
    Context,
    Source,
    active_silences,
    add_batch_source,
    load_flaps,
    load_member_parents,
    load_source_index,
    open_fingerprints,
    row_event,
    suppression,
)
from opsconductor.correlate.topology import Graph, TopologyView, load_view
from opsconductor.model.alert import AlertStatus
from opsconductor.model.decision import AcceptedEvent, Decided, Decision, fingerprint
from opsconductor.model.event import NormalizedEvent, Severity
from opsconductor.model.lifecycle import as_stored
from opsconductor.store.alert_writer import load_open_alerts
from opsconductor.store.partitions import Scope, require_global, scope_of
from opsconductor.store.types import insert_rows

PARENT_SOURCE = "opsconductor"
_CLEAR = Severity.clear
_GROUP_COUNTS = (select(MEMBERS.c.rule_id, MEMBERS.c.group_key, func.count())
                 .where(MEMBERS.c.open == True, MEMBERS.c.rule_id.in_(bindparam("rids", expanding=True)),  # noqa: E712
                        MEMBERS.c.group_key.in_(bindparam("keys", expanding=True)),
                        MEMBERS.c.last_seen >= bindparam("cutoff"))
                 .group_by(MEMBERS.c.rule_id, MEMBERS.c.group_key))
_DELETE_FLAPS = delete(FLAPS).where(FLAPS.c.fingerprint.in_(bindparam("fps", expanding=True)))
_DROPPED = fingerprint("dropped")
# Constant trace entries, shared by every decision that has them (never mutated).
_CLEAR_TRACE: dict[str, Any] = {"stage": "suppress", "detail": "a clear is never suppressed"}
_DEFAULT_SEVERITY_TRACE: dict[str, Any] = {"stage": "severity", "rule": None, "detail": "none sent, default warning"}
_DEFAULT_DEDUP_TRACE: dict[str, Any] = {"stage": "dedup", "rule": None,
                                        "detail": "default key resource, component, event"}


# fp, severity, trace, rule id, timeout, dropped, the (enriched) event
_Identity = tuple[str, Severity, list[dict[str, Any]], str | None, int | None, bool, NormalizedEvent]


def _same_fields(ev: NormalizedEvent, stored: dict[str, Any]) -> bool:
    """Whether the stored view has every matchable field (``labels.*`` included) of the event
    (``value`` always comes from the event)."""
    sev = ev.severity.value if ev.severity is not None else None
    return bool(stored["severity"] == sev and stored["labels"] == ev.labels and stored["summary"] == ev.summary
            and stored["resource"] == ev.resource and stored["event"] == ev.event
            and stored["component"] == ev.component and stored["source"] == ev.source)


def _check_partition_scope(scope: Scope, batch: Sequence[AcceptedEvent], plans: Sequence[Plan],
                           pre: Sequence[_Identity]) -> None:
    """Before anything is read or written: a partition batch whose events belong to state other
    partitions share is run under the exclusive lock instead (``store/partitions.py``)."""
    for a, plan, (_fp, _sev, _t, _rid, _to, drop, _ev) in zip(batch, plans, pre, strict=True):
        if drop:
            if "heartbeat" in plan.first:
                scope.require_global("a heartbeat")
            continue
        if a.event.source == PARENT_SOURCE:
            scope.require_global("a correlation parent")
        if plan.has_correlate:
            scope.require_global("a correlation group")
        dr = plan.first.get("dedup")
        if dr is not None and "resource" not in dr.dedup_key:
            scope.require_global("a dedup key without the resource")


def parent_fingerprint(rule: Rule, key: str) -> str:
    return fingerprint("correlation-parent", rule.id, key)


def _describe(rule: Rule, values: dict[str, str]) -> str:
    """How the trace and reasons name a parent: the same words as its event and resource."""
    assert rule.raise_ is not None
    return f"{rule.raise_.event} on {render(rule.raise_.resource, values) or rule.id}"


def _values_of(key: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in key.split("\x1f") if "=" in part)


@dataclass
class _Batch:
    ctx: Context
    decisions: list[Decision] = field(default_factory=list)
    open_rows: dict[str, dict[str, Any]] | None = None  # the batch's open alerts, for the store
    dirty_flaps: set[str] = field(default_factory=set)
    stored_flaps: set[str] = field(default_factory=set)  # fingerprints with a flap row at the start
    member_upserts: dict[tuple[str, str, str], datetime] = field(default_factory=dict)
    member_closes: set[str] = field(default_factory=set)
    members_loaded: bool = False  # the memberships (open or closed) of every correlate/clear fp were read
    stored_member_fps: set[str] = field(default_factory=set)
    open_member_fps: set[str] = field(default_factory=set)
    derived: list[NormalizedEvent] = field(default_factory=list)
    parents_cleared: set[str] = field(default_factory=set)
    group_counts: dict[tuple[str, str], int] = field(default_factory=dict)  # stored open members in the window
    group_known: dict[tuple[str, str], dict[str, datetime]] = field(default_factory=dict)  # ... of batch fps
    group_upserts: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # members seen in this batch
    severity_of: dict[str, Severity] = field(default_factory=dict)  # effective severity per fp in this batch
    beats: dict[str, Beat] = field(default_factory=dict)  # heartbeats heard through heartbeat rules


class RulesCorrelator:
    """Implements the Correlator protocol; ``current`` is swapped atomically on reload."""

    def __init__(self, compiled: CompiledRuleSet, clock: Callable[[], datetime]):
        self.current = compiled
        self.clock = clock
        self.topology_graph: Callable[[], Graph] = Graph  # the targets' depends_on (wired by install)
        self.inventory: Callable[[], Mapping[str, Any]] = dict  # targets by name (wired by install)
        # replay: windows, flap and correlation times follow each event's receive time, not the batch's
        self.event_time = False
        self._inventory: Mapping[str, Any] | None = None

    async def topology_view(self, conn: AsyncConnection, compiled: CompiledRuleSet,
                            events: Sequence[NormalizedEvent], now: datetime) -> TopologyView | None:
        rules = compiled.ruleset.of_kind("topology")
        return await load_view(conn, rules, self.topology_graph(), events, now) if rules else None

    @property
    def version(self) -> str:
        return self.current.version

    async def decide(self, conn: AsyncConnection, batch: Sequence[AcceptedEvent]) -> Decided:
        """Decide a batch in the pipeline's transaction: reads and writes flap and correlation
        state; parents raised or cleared come back as derived events for the pipeline to accept."""
        b = await self._decide(conn, batch, self.clock(), write=True)
        return Decided(b.decisions, b.derived, b.open_rows)

    async def decide_offline(self, batch: Sequence[AcceptedEvent]) -> list[Decision]:
        """Without a database: no state, no silences (``rules explain`` on files)."""
        return (await self._decide(None, batch, self.clock(), write=False)).decisions

    async def after_apply(self, conn: AsyncConnection, decisions: Sequence[Decision]) -> list[NormalizedEvent]:
        """In the batch transaction, after the store applied ``decisions``: incident links; returns the
        parent events (severity following the children) for the pipeline to accept."""
        return await link_incidents(conn, self.current.ruleset, decisions)

    async def explain(self, conn: AsyncConnection, event: NormalizedEvent) -> Decision:
        """What would happen to this event now; reads state, writes nothing."""
        return (await self._decide(conn, [AcceptedEvent(0, event, self.clock())], self.clock(),
                                   write=False)).decisions[0]

    # ---------------------------------------------------------------------------------
    async def _decide(self, conn: AsyncConnection | None, batch: Sequence[AcceptedEvent], now: datetime,
                      *, write: bool) -> _Batch:
        compiled = self.current  # one rule set per batch, even if a reload lands meanwhile
        if not batch:
            return _Batch(Context(now=now, silences=[], patterns={}))
        # the engine (a thread and the worker process) and the silences query run at the same time
        classify = asyncio.ensure_future(asyncio.to_thread(compiled.classify_plans, [a.event for a in batch]))
        try:
            silences = await active_silences(conn, now) if conn is not None else []
        except BaseException:
            with contextlib.suppress(BaseException):
                await classify
            raise
        plans = await classify
        self._inventory = None
        pre = [self._identity(compiled, a.event, p) for a, p in zip(batch, plans, strict=True)]
        if (scope := scope_of(conn)) is not None:
            _check_partition_scope(scope, batch, plans, pre)
        # enrichment (set: summary/labels) gives later stages and the store the enriched event
        batch = [a if i[6] is a.event else AcceptedEvent(a.id, i[6], a.received_at) for a, i in zip(batch, pre,
                                                                                                    strict=True)]
        ctx = Context(now=now, silences=silences, patterns=compiled._ref_patterns)
        b = _Batch(ctx)
        views, vplans = await self._views(conn, compiled, b, batch, plans, pre, write)
        if conn is not None:
            # State exists only for identities that a flap/correlate rule matched; a clear may end it.
            if compiled.ruleset.of_kind("flap"):
                ctx.flaps = await load_flaps(conn, sorted({
                    i[0] for i, p in zip(pre, plans, strict=True) if not i[5] and (p.has_flap or i[1] is _CLEAR)}))
                b.stored_flaps = set(ctx.flaps)
            member_rows: list[dict[str, Any]] = []
            parents: set[str] = set()
            if compiled.ruleset.of_kind("correlate"):
                member_rows, parents = await self._memberships(conn, compiled, sorted({
                    i[0] for i, p in zip(pre, plans, strict=True)
                    if not i[5] and (p.has_correlate or i[1] is _CLEAR)}), ctx)
                b.members_loaded = True
                b.stored_member_fps = {m["fingerprint"] for m in member_rows}
                b.open_member_fps = {m["fingerprint"] for m in member_rows if m["open"]}
            targets = [v for v, p in zip(views, vplans, strict=True) if p.inhibit_targets]
            if targets:
                ctx.sources = await load_source_index(conn, compiled.ruleset.of_kind("inhibit"), targets,
                                                      compiled._ref_patterns)
            ctx.topology = await self.topology_view(conn, compiled, [a.event for a in batch], now)
            parents |= await self._load_groups(conn, compiled, batch, plans, b,
                                               [m for m in member_rows if m["open"]], now)
            if parents:  # one query: are the parents of stored memberships and touched groups open?
                ctx.open_parents |= await open_fingerprints(conn, sorted(parents))
        out = b.decisions
        version = compiled.version
        for a, plan, view, vplan, (fp, sev, trace, rule_id, timeout, drop, _ev) in zip(
                batch, plans, views, vplans, pre, strict=True):
            if drop:
                hb = plan.first.get("heartbeat")
                if hb is not None:
                    origin = origin_of(hb.heartbeat_origin, a.event)
                    b.beats[origin] = Beat(origin, hb.heartbeat_timeout, dict(a.event.labels), f"rule:{hb.id}")
                out.append(Decision(a.id, a.event, fp, sev, drop=True, rule_id=rule_id,
                                    ruleset_version=version, trace=tuple(trace)))
                continue
            is_clear = sev is _CLEAR
            at = now
            if self.event_time and a.received_at is not None:  # replay: each event at its own log time
                at = ctx.now = a.received_at
                if ctx.topology is not None:
                    ctx.topology.now = at
            if plan.flap_rule is not None or fp in ctx.flaps:
                self._flap(plan, fp, is_clear, at, b, trace)
            b.severity_of[fp] = sev
            if plan.correlate_rules or (is_clear and fp in ctx.member_parents):
                require_global(conn, "a correlation group")
                await self._correlate(conn, compiled, a.event, plan, fp, is_clear, at, b, trace)
            elif is_clear:
                b.member_closes.add(fp)
            reason = None
            if is_clear:
                trace.append(_CLEAR_TRACE)
                ctx.cleared.add(fp)
            else:
                # suppression decides on the alert as it will be stored, like every re-check
                reason = suppression(view, fp, vplan, ctx, trace)
                ctx.cleared.discard(fp)  # open again after an earlier clear in this batch
                if vplan.inhibit_sources:
                    if any("resource" not in r.equal for r in vplan.inhibit_sources):
                        require_global(conn, "an inhibitor of other resources")
                    src = Source(fp, view)
                    for rule in vplan.inhibit_sources:
                        add_batch_source(ctx, rule, src)
            if ctx.topology is not None:
                seen = a.event if a.event.severity is sev else a.event.model_copy(update={"severity": sev})
                if ctx.topology.changes(seen, fp, is_clear):
                    require_global(conn, "a topology upstream")
                ctx.topology.observe(seen, fp, is_clear)
            memberships = ctx.member_parents.get(fp)
            out.append(Decision(a.id, a.event, fp, sev, suppressed_reason=reason, rule_id=rule_id,
                                ruleset_version=version, timeout=timeout, trace=tuple(trace),
                                parent_fingerprint=memberships[0][1] if memberships else None))
        if write and conn is not None:
            await self._write_state(conn, b, now)
        return b

    async def _views(self, conn: AsyncConnection | None, compiled: CompiledRuleSet, b: _Batch,
                     batch: Sequence[AcceptedEvent], plans: Sequence[Plan], pre: Sequence[_Identity],
                     write: bool) -> tuple[list[NormalizedEvent], list[Plan]]:
        """Each event's alert as it will be stored (mapped severity, labels merged with the open
        alert's...), the one view suppression decides on, and the plan of that view."""
        events = [a.event for a in batch]
        rs = compiled.ruleset
        ruled = bool(rs.of_kind("maintenance") or rs.of_kind("inhibit"))
        if not (ruled or b.ctx.silences):
            return events, list(plans)  # nothing decides on the view
        current: dict[str, dict[str, Any]] = {}
        if conn is not None:
            # loaded for update as the store needs them (it takes them from here, not again)
            b.open_rows = await load_open_alerts(conn, {i[0] for i in pre if not i[5]}, for_update=write)
            current = dict(b.open_rows)  # a copy: the views below replace rows, never change them
        views: list[NormalizedEvent] = []
        for ev, (fp, sev, *_, drop, _ev) in zip(events, pre, strict=True):
            if drop or sev is _CLEAR:
                if not drop:
                    current.pop(fp, None)  # resolved: the next event opens a new alert
                views.append(ev)
                continue
            stored = as_stored(current.get(fp), ev, sev)
            views.append(ev if _same_fields(ev, stored) else row_event(stored))
            stored["status"] = AlertStatus.active.value  # open, for the next event of this batch
            current[fp] = stored
        vplans = list(plans)
        changed = [i for i, (ev, v) in enumerate(zip(events, views, strict=True)) if v is not ev]
        if ruled and changed:
            got = await asyncio.to_thread(compiled.classify_plans, [views[i] for i in changed])
            for i, p in zip(changed, got, strict=True):
                vplans[i] = p
        return views, vplans

    def _identity(self, compiled: CompiledRuleSet, ev: NormalizedEvent, plan: Plan
                  ) -> _Identity:
        """drop, severity mapping, dedup identity, clear_on: no state needed.

        Trace entries that depend only on the rules are built once per plan and shared
        (decisions never mutate their trace entries)."""
        trace: list[dict[str, Any]] = [compiled.version_trace, plan.match_trace]
        first = plan.first
        rule_id: str | None = None
        sev = ev.severity
        if "heartbeat" in first:
            r = first["heartbeat"]
            origin = origin_of(r.heartbeat_origin, ev)
            trace.append({"stage": "heartbeat", "rule": r.id, "at": plan.where(r),
                          "detail": f"heartbeat of {origin}: the next is due within {r.heartbeat_timeout}s "
                                    "(no alert)"})
            return _DROPPED, sev or Severity.info, trace, r.id, None, True, ev
        if "drop" in first:
            r = first["drop"]
            trace.append(plan.static("drop", lambda: {"stage": "drop", "rule": r.id, "at": str(r.where),
                                                      "detail": "dropped (kept in the log)"}))
            return _DROPPED, sev or Severity.warning, trace, r.id, None, True, ev
        if "severity" in first:
            r = first["severity"]
            mapped, how = mapped_severity(r, ev)
            trace.append({"stage": "severity", "rule": r.id, "at": plan.where(r), "detail": how})
            if mapped is not None:
                sev = mapped
                rule_id = r.id
        if sev is None:
            sev = Severity.warning
            trace.append(_DEFAULT_SEVERITY_TRACE)
        rs = first.get("severity")
        if rs is not None and (rs.set_summary is not None or rs.set_labels
                               or (rs.severity is not None and rs.severity.template is not None)):
            ev, enriched, notes = enrich(rs, ev, sev, self._target(ev.resource))
            if enriched is not sev:
                sev, rule_id = enriched, rs.id
            trace.append({"stage": "enrich", "rule": rs.id, "at": plan.where(rs), "detail": "; ".join(notes)})
        timeout: int | None = None
        parent_rule = self._parent_rule(compiled, ev) if ev.source == PARENT_SOURCE else None
        if parent_rule is not None:
            fp = parent_fingerprint(parent_rule, ev.labels.get("correlation_key", ""))
            trace.append({"stage": "dedup", "rule": parent_rule.id, "at": str(parent_rule.where),
                          "detail": "parent alert of a correlation"})
        else:
            dr = first.get("dedup")
            fp = dedup_fingerprint(dr, ev)
            if dr is not None:
                rule_id = dr.id
                timeout = dr.timeout
                paired = ev.event in dr.dedup_correlate

                def dedup_trace() -> dict[str, Any]:
                    key = ", ".join(dr.dedup_key) + (f" + {'|'.join(dr.dedup_correlate)}" if paired else " + event")
                    return {"stage": "dedup", "rule": dr.id, "at": str(dr.where), "detail": f"key {key}"}

                trace.append(plan.static(("dedup", paired), dedup_trace))
                if dr.id in plan.clear_on_rules and sev is not _CLEAR:
                    sev = _CLEAR
                    trace.append(plan.static("clear_on", lambda: {
                        "stage": "clear_on", "rule": dr.id, "at": str(dr.where),
                        "detail": "clears the alert of this key"}))
            else:
                trace.append(_DEFAULT_DEDUP_TRACE)
        if ev.timeout is not None:  # the event's own timeout wins (Alerta)
            timeout = ev.timeout
        return fp, sev, trace, rule_id, timeout, False, ev

    def _target(self, name: str) -> Any | None:
        """The inventory target of a resource, read once per batch (enrichment templates)."""
        if self._inventory is None:
            self._inventory = self.inventory()
        return self._inventory.get(name)

    @staticmethod
    def _parent_rule(compiled: CompiledRuleSet, ev: NormalizedEvent) -> Rule | None:
        if ev.source != PARENT_SOURCE or "correlated_by" not in ev.labels:
            return None
        for r in compiled.ruleset.of_kind("correlate"):
            if r.id == ev.labels["correlated_by"] and r.raise_ is not None and r.raise_.event == ev.event:
                return r
        return None

    def _flap(self, plan: Plan, fp: str, is_clear: bool, now: datetime, b: _Batch,
              trace: list[dict[str, Any]]) -> None:
        rule = plan.flap_rule
        row = b.ctx.flaps.get(fp)
        if rule is None and row is not None:
            found = self.current.ruleset.by_id.get(row.rule_id)
            rule = found if found is not None and found.kind == "flap" else None
        if rule is None:
            return
        new = flap_step(row, rule, fp, is_clear, now)
        b.ctx.flaps[fp] = new
        if new != row:  # a repeat of the same state with nothing aged out changes nothing
            b.dirty_flaps.add(fp)
        trace.append({"stage": "flap", "rule": rule.id, "at": str(rule.where),
                      "detail": f"{len(new.changes)} changes in {int(rule.flap_within)}s"
                                + (", flapping" if new.flapping else "")})

    async def _load_members(self, conn: AsyncConnection, compiled: CompiledRuleSet, fps: Sequence[str],
                            ctx: Context) -> list[dict[str, Any]]:
        """Memberships of ``fps`` (returned, open or closed) and whether their parents are open (into ``ctx``)."""
        rows, parents = await self._memberships(conn, compiled, fps, ctx)
        ctx.open_parents |= await open_fingerprints(conn, sorted(parents))
        return rows

    async def _memberships(self, conn: AsyncConnection, compiled: CompiledRuleSet, fps: Sequence[str],
                           ctx: Context) -> tuple[list[dict[str, Any]], set[str]]:
        """Memberships of ``fps``, open or closed; the open ones go into ``ctx.member_parents``.
        Returns them and the fingerprints of their parents."""
        rows = await load_member_parents(conn, fps)
        rules = {r.id: r for r in compiled.ruleset.of_kind("correlate")}
        parents: set[str] = set()
        for m in rows:
            if not m["open"]:
                continue
            r = rules.get(m["rule_id"])
            if r is None or r.raise_ is None:
                continue
            pfp = parent_fingerprint(r, m["group_key"])
            desc = _describe(r, _values_of(m["group_key"]))
            ctx.member_parents.setdefault(m["fingerprint"], []).append((r.id, pfp, desc, r.suppress_members))
            parents.add(pfp)
        return rows, parents

    async def _correlate(self, conn: AsyncConnection | None, compiled: CompiledRuleSet, ev: NormalizedEvent,
                         plan: Plan, fp: str, is_clear: bool, now: datetime, b: _Batch,
                         trace: list[dict[str, Any]]) -> None:
        if is_clear:
            b.member_closes.add(fp)
            for rule_id, pfp, desc, _suppress in b.ctx.member_parents.get(fp, []):
                found = compiled.ruleset.by_id.get(rule_id)
                rule = found if found is not None and found.kind == "correlate" else None
                if rule is None or conn is None or pfp in b.parents_cleared or pfp not in b.ctx.open_parents:
                    continue
                key = await self._group_of(conn, rule_id, fp)
                if key is None:
                    continue
                still = await self._open_members(conn, rule_id, key, exclude=b.member_closes)
                if rule.resolve == "any" or still == 0:  # an incident stays open while a child is
                    b.derived.append(parent_event(rule, _values_of(key), clear=True))
                    b.parents_cleared.add(pfp)
                    b.ctx.open_parents.discard(pfp)
                    trace.append({"stage": "correlate", "rule": rule_id, "detail": f"{desc} clears ({still} left)"})
            return
        for rule in plan.correlate_rules:
            if rule.raise_ is None:
                continue
            values = group_values(rule, ev)
            if values is None:
                continue
            key = group_key(values)
            pfp = parent_fingerprint(rule, key)
            b.member_upserts[(rule.id, key, fp)] = now
            b.group_upserts.setdefault((rule.id, key), set()).add(fp)
            desc = _describe(rule, values)
            members = b.ctx.member_parents.setdefault(fp, [])
            if not any(m[0] == rule.id for m in members):
                members.append((rule.id, pfp, desc, rule.suppress_members))
            count = 1
            if conn is not None:
                count = await self._recent_members(conn, rule, key, now, fp, b)
            trace.append({"stage": "correlate", "rule": rule.id, "at": str(rule.where),
                          "detail": f"{count}/{rule.count} in {int(rule.within)}s for {desc}"})
            if count >= rule.count and pfp not in b.ctx.open_parents:
                top = None if rule.raise_.severity is not None or conn is None else \
                    await highest_child_severity(conn, rule.id, key, b.group_upserts.get((rule.id, key), set()),
                                                 b.severity_of)
                b.derived.append(parent_event(rule, values, severity=top))
                b.ctx.open_parents.add(pfp)
                trace.append({"stage": "correlate", "rule": rule.id, "detail": f"raises {desc}"})

    async def _load_groups(self, conn: AsyncConnection, compiled: CompiledRuleSet, batch: Sequence[AcceptedEvent],
                           plans: Sequence[Plan], b: _Batch, member_rows: Sequence[dict[str, Any]],
                           now: datetime) -> set[str]:
        """Per correlation group this batch touches: how many open members are inside the window
        (counted in SQL, so a big group costs one row, not one row per member)."""
        wanted: set[tuple[str, str]] = set()
        for a, plan in zip(batch, plans, strict=True):
            for rule in plan.correlate_rules:
                values = group_values(rule, a.event)
                if values is not None:
                    wanted.add((rule.id, group_key(values)))
        if not wanted:
            return set()
        by_id = compiled.ruleset.by_id
        by_within: dict[float, set[str]] = {}
        for rid, _ in wanted:
            by_within.setdefault(by_id[rid].within, set()).add(rid)
        rows: list[Any] = []
        for within, rids in sorted(by_within.items()):
            params = {"rids": sorted(rids), "keys": sorted({k for r, k in wanted if r in rids}),
                      "cutoff": now - timedelta(seconds=within)}
            rows.extend((await conn.execute(_GROUP_COUNTS, params)).all())
        for rid, key, n in rows:
            b.group_counts[(rid, key)] = int(n)
        # The stored memberships of this batch's own fingerprints (a subset of what was counted).
        for m in member_rows:
            b.group_known.setdefault((m["rule_id"], m["group_key"]), {})[m["fingerprint"]] = m["last_seen"]
        return {parent_fingerprint(by_id[r_id], k) for r_id, k in wanted}  # the caller checks which are open

    async def _recent_members(self, conn: AsyncConnection, rule: Rule, key: str, now: datetime, fp: str,
                              b: _Batch) -> int:
        """| (stored recent members - closed in this batch) | batch members | this one |.

        The stored set is known by its size (``group_counts``) and, exactly, where it meets the
        batch's fingerprints (``group_known``): every fingerprint in the batch terms is one of those."""
        cutoff = now - timedelta(seconds=rule.within)
        known = {f for f, seen in b.group_known.get((rule.id, key), {}).items() if seen >= cutoff}
        live_known = known - b.member_closes
        stored = b.group_counts.get((rule.id, key), 0) - (len(known) - len(live_known))
        # members of this batch inside the window (all of them unless events carry their own times)
        batch = {f for f in b.group_upserts.get((rule.id, key), set())
                 if b.member_upserts.get((rule.id, key, f), now) >= cutoff} | {fp}
        return stored + len(batch - live_known)

    async def _group_of(self, conn: AsyncConnection, rule_id: str, fp: str) -> str | None:
        stmt = select(MEMBERS.c.group_key).where(MEMBERS.c.rule_id == rule_id, MEMBERS.c.fingerprint == fp)
        return (await conn.execute(stmt)).scalars().first()

    async def _open_members(self, conn: AsyncConnection, rule_id: str, key: str, *, exclude: set[str]) -> int:
        stmt = select(MEMBERS.c.fingerprint).where(MEMBERS.c.rule_id == rule_id, MEMBERS.c.group_key == key,
                                                   MEMBERS.c.open == True)  # noqa: E712
        return len(set((await conn.execute(stmt)).scalars().all()) - exclude)

    async def _write_state(self, conn: AsyncConnection, b: _Batch, now: datetime) -> None:
        for hb in b.beats.values():
            await beat(conn, hb, now)
        if b.dirty_flaps:
            dirty = sorted(b.dirty_flaps)
            stored = sorted(b.dirty_flaps & b.stored_flaps)  # the others have no row to replace
            for i in range(0, len(stored), CHUNK):
                await conn.execute(_DELETE_FLAPS, {"fps": stored[i : i + CHUNK]})
            rows: list[FlapRow] = [b.ctx.flaps[f] for f in dirty]
            await insert_rows(conn, FLAPS, [
                {"fingerprint": r.fingerprint, "rule_id": r.rule_id, "last_state": r.last_state,
                 "changes": r.changes, "flapping": r.flapping, "updated_at": now} for r in rows])
        # Memberships loaded at the start say exactly which rows exist (else: as if all might).
        closes = b.member_closes & b.open_member_fps if b.members_loaded else b.member_closes
        if closes:
            await conn.execute(update(MEMBERS).where(MEMBERS.c.fingerprint.in_(sorted(closes))).values(open=False))
        ups = [(r, k, f, seen) for (r, k, f), seen in b.member_upserts.items() if f not in b.member_closes]
        if ups:
            # one delete + one insert for the batch (a fingerprint that changed group leaves the old one)
            replaced = {u[2] for u in ups} & b.stored_member_fps if b.members_loaded else {u[2] for u in ups}
            if replaced:
                await conn.execute(delete(MEMBERS).where(MEMBERS.c.fingerprint.in_(sorted(replaced)),
                                                         MEMBERS.c.rule_id.in_(sorted({u[0] for u in ups}))))
            await insert_rows(conn, MEMBERS, [{"rule_id": r, "group_key": k, "fingerprint": f, "last_seen": seen,
                                               "open": True} for r, k, f, seen in ups])
