"""Why an alert is suppressed right now: maintenance, silence, inhibition, flapping, correlation.

The same read-only function answers for a new event (in the batch transaction)
and for a stored alert (the periodic re-evaluation), so an alert that became
suppressed for a reason becomes active again exactly when that reason ends.
Order: maintenance window, API silence, inhibition, flapping, correlation member;
the first reason found is stored, every reason found is in the trace.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.correlate.compiled import Plan, Slot
from opsconductor.correlate.evaluate import FlapRow, flap_prune, flap_status, getters, in_schedule
from opsconductor.correlate.matchers import And, Eq, Matcher, Or, matches, strict_equal
from opsconductor.correlate.parser import parse_matcher
from opsconductor.correlate.rules import Rule
from opsconductor.correlate.state import FLAPS, MEMBERS, SILENCES
from opsconductor.correlate.topology import TopologyView
from opsconductor.model.alert import OPEN_STATUSES
from opsconductor.model.event import NormalizedEvent, Severity
from opsconductor.store.alert_writer import ALERTS
from opsconductor.store.tables import OPEN_STATUS_SQL

_OPEN = [s.value for s in OPEN_STATUSES]


_ROW_FIELDS = frozenset(("resource", "event", "component", "severity", "summary", "value", "labels", "source"))
_new_event = NormalizedEvent.__new__
_set = object.__setattr__


def row_event(row: dict[str, Any]) -> NormalizedEvent:
    """A stored alert seen as an event, for matching. Its fields were validated when its event was
    accepted, so the model is constructed without validating them again (a pass reads many rows).

    What ``NormalizedEvent.model_construct(resource=..., ..., source=...)`` builds (a test checks
    it), at a quarter of its cost: the fields not given (occurred_at, timeout, raw) default to
    None, which pydantic's general path looks up field by field, per row."""
    sev = row["severity"]
    ev = _new_event(NormalizedEvent)
    _set(ev, "__dict__", {
        "resource": row["resource"], "event": row["event"], "component": row["component"],
        "severity": Severity(sev) if sev is not None else None, "summary": row["summary"], "value": row["value"],
        "labels": row["labels"] or {}, "source": row["source"], "occurred_at": None, "timeout": None, "raw": None})
    _set(ev, "__pydantic_fields_set__", set(_ROW_FIELDS))
    _set(ev, "__pydantic_extra__", None)
    _set(ev, "__pydantic_private__", None)
    return ev


@dataclass(frozen=True)
class ActiveSilence:
    id: int
    matcher: Matcher
    comment: str
    created_by: str


def silence_matcher(matchers: dict[str, Any]) -> Matcher:
    """Silence matchers use the rule matcher language; invalid ones were refused at creation."""
    m, errors = parse_matcher(matchers, "silence")
    if errors:
        raise errors[0]
    return m


async def active_silences(conn: AsyncConnection, now: datetime) -> list[ActiveSilence]:
    stmt = select(SILENCES).where(SILENCES.c.starts_at <= now, SILENCES.c.ends_at > now).order_by(SILENCES.c.id)
    return [ActiveSilence(r["id"], silence_matcher(r["matchers"]), r["comment"], r["created_by"])
            for r in (await conn.execute(stmt)).mappings()]


@dataclass
class Source:
    """An alert (stored, or earlier in this batch) that can inhibit others."""

    fingerprint: str
    event: NormalizedEvent
    alert_id: int | None = None


@dataclass
class Context:
    """Read-only state one suppression decision needs; the correlator fills it per batch."""

    now: datetime
    silences: list[ActiveSilence]
    patterns: dict[str, re.Pattern[str]]
    flaps: dict[str, FlapRow] = field(default_factory=dict)
    batch_sources: dict[str, dict[tuple[Any, ...], list[Source]]] = field(default_factory=dict)
    cleared: set[str] = field(default_factory=set)
    open_parents: set[str] = field(default_factory=set)  # parent fingerprints open or raised
    # fp -> (correlate rule, parent fp, parent description, suppress_members)
    member_parents: dict[str, list[tuple[str, str, str, bool]]] = field(default_factory=dict)
    sources: SourceIndex | None = None  # stored open alerts that can inhibit (loaded per batch)
    topology: TopologyView | None = None  # upstreams down per topology rule (loaded per batch)


def _part(v: Any) -> Any:
    """A cheap in-memory stand-in for :func:`token`: strictly equal values get equal parts
    (1 and 1.0 alike, a string never equals a number, a bool never equals a number)."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, (int, float)):
        return ("n", v) if v == v else ("nan",)
    return ("x", type(v).__name__)


def _equal_key(rule: Rule, ev: NormalizedEvent) -> tuple[Any, ...]:
    """Index key of the ``equal`` fields; candidates are still checked with strict_equal."""
    return tuple([_part(get(ev)) for get in getters(rule.equal)])


class SourceIndex:
    """Stored open alerts that can inhibit, per inhibit rule and ``equal`` values (built once per batch)."""

    def __init__(self, rules: Sequence[Rule], candidates: Sequence[Source], patterns: dict[str, re.Pattern[str]]):
        self._by_rule: dict[str, dict[tuple[Any, ...], list[Source]]] = {}
        live = [c for c in candidates if c.event.severity is None or c.event.severity.value != "clear"]
        for rule in rules:
            assert rule.inhibit_source is not None
            idx: dict[tuple[Any, ...], list[Source]] = {}
            pin = _column_pin(rule.inhibit_source)  # skip the matcher for what cannot match
            for src in live:
                if pin is not None and getattr(src.event, pin[0]) not in pin[1]:
                    continue
                if matches(rule.inhibit_source, src.event, patterns):
                    idx.setdefault(_equal_key(rule, src.event), []).append(src)
            self._by_rule[rule.id] = idx

    def lookup(self, rule: Rule, key: tuple[Any, ...]) -> list[Source]:
        return self._by_rule.get(rule.id, {}).get(key, [])


async def load_source_index(conn: AsyncConnection, rules: Sequence[Rule], targets: Sequence[NormalizedEvent],
                            patterns: dict[str, re.Pattern[str]]) -> SourceIndex:
    """One query for the batch: open alerts that may inhibit one of ``targets``."""
    # status through an expression: no index on it, so the planner takes the resource index
    # (without planner statistics SQLite would take the status index and read every open alert)
    base = select(ALERTS).where(unindexed(ALERTS.c.status).in_(_OPEN))
    # Narrow in SQL by what every source matcher pins (e.g. event IN ('device_down')).
    pinned = [_column_pin(r.inhibit_source) for r in rules if r.inhibit_source is not None]
    if pinned and all(p is not None for p in pinned):
        by_col: dict[str, set[str]] = {}
        for p in pinned:
            assert p is not None
            by_col.setdefault(p[0], set()).update(p[1])
        if len(by_col) == 1:
            col, values = next(iter(by_col.items()))
            base = base.where(ALERTS.c[col].in_(sorted(values)))
    rows: list[dict[str, Any]] = []
    if rules and all("resource" in r.equal for r in rules):
        resources = sorted({t.resource for t in targets})
        for i in range(0, len(resources), 500):
            stmt = base.where(ALERTS.c.resource.in_(resources[i : i + 500]))
            rows.extend(dict(r) for r in (await conn.execute(stmt)).mappings())
    else:
        rows = [dict(r) for r in (await conn.execute(base.limit(100_000))).mappings()]
    return SourceIndex(rules, [Source(r["fingerprint"], row_event(r), r["id"]) for r in rows], patterns)


_COLUMNS = ("resource", "event", "component", "source")


def unindexed(col: Any) -> Any:
    """``col`` in a form no index covers (``col || ''``, on SQLite and PostgreSQL alike)."""
    return col.concat("")


def _column_pin(m: Matcher) -> tuple[str, set[str]] | None:
    """A column the matcher pins to text values (``event: device_down`` / ``[a, b]``), or None."""
    items = m.items if isinstance(m, And) else (m,)
    for it in items:
        if isinstance(it, Eq) and it.field in _COLUMNS and isinstance(it.value, str):
            return it.field, {it.value}
        if isinstance(it, Or) and it.items and all(
                isinstance(x, Eq) and x.field == getattr(it.items[0], "field", None) and isinstance(x.value, str)
                for x in it.items):
            eqs = [x for x in it.items if isinstance(x, Eq)]
            if eqs[0].field in _COLUMNS:
                return eqs[0].field, {str(x.value) for x in eqs}
    return None


def add_batch_source(ctx: Context, rule: Rule, src: Source) -> None:
    """An event earlier in this batch that matches an inhibit rule's source."""
    ctx.batch_sources.setdefault(rule.id, {}).setdefault(_equal_key(rule, src.event), []).append(src)


def find_source(slot: Slot, ev: NormalizedEvent, fp: str, ctx: Context) -> Source | None:
    rule = slot.rule
    assert rule.inhibit_source is not None
    key = _equal_key(rule, ev)
    stored = ctx.sources.lookup(rule, key) if ctx.sources is not None else []
    in_batch = ctx.batch_sources.get(rule.id, {}).get(key, [])
    if not stored and not in_batch:
        return None
    for src in [*reversed(in_batch), *stored]:
        if src.fingerprint == fp or src.fingerprint in ctx.cleared:
            continue
        if src.event.severity is not None and src.event.severity.value == "clear":
            continue
        if not all(strict_equal(src.event.field_value(f), ev.field_value(f)) for f in rule.equal):
            continue
        if matches(rule.inhibit_source, src.event, ctx.patterns):
            return src
    return None


def suppression(ev: NormalizedEvent, fp: str, plan: Plan, ctx: Context, trace: list[dict[str, Any]]) -> str | None:
    """The suppression reason for a (non-clear) event or alert, or None; appends trace entries."""
    reasons: list[str] = []
    for rule in plan.maintenance:
        assert rule.schedule is not None
        if in_schedule(rule.schedule, ctx.now):
            reasons.append(f"maintenance window {rule.id}")
            trace.append({"stage": "maintenance", "rule": rule.id, "at": plan.where(rule),
                          "detail": "inside the window"})
            break
        trace.append({"stage": "maintenance", "rule": rule.id, "at": plan.where(rule),
                      "detail": "matched, outside the window"})
    for sil in ctx.silences:
        if matches(sil.matcher, ev, ctx.patterns):
            reasons.append(f"silence {sil.id}: {sil.comment}")
            trace.append({"stage": "silence", "silence": sil.id, "detail": sil.comment})
            break
    for s in plan.inhibit_targets:
        src = find_source(s, ev, fp, ctx)
        if src is not None:
            what = f"{src.event.event} on {src.event.resource}"
            reasons.append(f"inhibited by {what} (rule {s.rule.id})")
            trace.append({"stage": "inhibit", "rule": s.rule.id, "at": str(s.rule.where),
                          "detail": f"source {what}" + (f" (alert {src.alert_id})" if src.alert_id else "")})
            break
    flap = ctx.flaps.get(fp)
    if flap is not None and flap.flapping:
        reasons.append(f"flapping: {len(flap.changes)} changes (rule {flap.rule_id})")
        trace.append({"stage": "flap", "rule": flap.rule_id, "detail": f"{len(flap.changes)} changes in window"})
    for rule_id, parent_fp, desc, suppress in ctx.member_parents.get(fp, []):
        if suppress and parent_fp in ctx.open_parents:
            reasons.append(f"correlated into {desc} (rule {rule_id})")
            trace.append({"stage": "correlate", "rule": rule_id, "detail": f"member of {desc}"})
            break
    if ctx.topology is not None:
        hit = ctx.topology.reason(ev)
        if hit is not None:
            reasons.append(hit[0])
            trace.append(hit[1])
    return reasons[0] if reasons else None


# Built once: statements with an expanding IN parameter are compiled once and cached by SQLAlchemy.
CHUNK = 2000  # IN-list size per query (well below SQLite's and PostgreSQL's parameter limits)
_FLAPS_OF = select(FLAPS).where(FLAPS.c.fingerprint.in_(bindparam("fps", expanding=True)))
_MEMBERS_OF = select(MEMBERS).where(MEMBERS.c.fingerprint.in_(bindparam("fps", expanding=True)))
# The literal condition of the partial unique index on open fingerprints: with bound statuses
# SQLite cannot prove the index applies and scans every open alert instead.
_OPEN_OF = select(ALERTS.c.fingerprint).where(ALERTS.c.fingerprint.in_(bindparam("fps", expanding=True)),
                                              text(OPEN_STATUS_SQL))


async def load_flaps(conn: AsyncConnection, fps: Sequence[str]) -> dict[str, FlapRow]:
    out: dict[str, FlapRow] = {}
    for i in range(0, len(fps), CHUNK):
        for r in (await conn.execute(_FLAPS_OF, {"fps": list(fps[i : i + CHUNK])})).mappings():
            out[r["fingerprint"]] = FlapRow(r["fingerprint"], r["rule_id"], r["last_state"], list(r["changes"]),
                                            bool(r["flapping"]))
    return out


def refresh_flap(row: FlapRow, within: float, now: datetime, threshold: int) -> FlapRow:
    """Flap state as of ``now`` with no new observation (changes age out of the window)."""
    changes = flap_prune(row, within, now)
    return FlapRow(row.fingerprint, row.rule_id, row.last_state, changes,
                   flap_status(row.flapping, len(changes), threshold))


async def load_member_parents(conn: AsyncConnection, fps: Sequence[str]) -> list[dict[str, Any]]:
    """Correlation memberships of ``fps``, open (``row["open"]``) or closed."""
    out: list[dict[str, Any]] = []
    for i in range(0, len(fps), CHUNK):
        out.extend(dict(r) for r in (await conn.execute(_MEMBERS_OF, {"fps": list(fps[i : i + CHUNK])})).mappings())
    return out


async def open_fingerprints(conn: AsyncConnection, fps: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for i in range(0, len(fps), CHUNK):
        out.update((await conn.execute(_OPEN_OF, {"fps": list(fps[i : i + CHUNK])})).scalars().all())
    return out
