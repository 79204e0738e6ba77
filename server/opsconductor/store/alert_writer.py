"""The one writer of ``alerts`` and ``alert_history``.

Every alert change (events, operator actions, expiry, suppression re-decisions) is a
:class:`~opsconductor.model.lifecycle.Change` from the state machine; this module writes
changes and hands their transitions to the sink in the same transaction. Nothing else
updates or inserts these two tables (a test checks it). Callers get their transaction,
with the processing lock, from :class:`~opsconductor.store.alert_store.AlertStore`.

Batching is what makes the intake fast: one query loads the open alerts of every
fingerprint in the batch, the pure state machine runs in memory in arrival order, then
rows, history and the event log's processed markers are written with executemany.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.errors import Conflict, NotFound
from opsconductor.model.alert import OPEN_STATUSES, Action, Outcome
from opsconductor.model.decision import Decision
from opsconductor.model.lifecycle import ActionTrigger, Change, EventTrigger, Row, Transition, transition
from opsconductor.store.partitions import require_global, scope_of
from opsconductor.store.tables import Alert, AlertHistory, EventRecord
from opsconductor.store.types import driver_value, insert_rows, sqlite_time

ALERTS = Alert.__table__  # type: ignore[attr-defined]
HISTORY = AlertHistory.__table__  # type: ignore[attr-defined]
EVENTS = EventRecord.__table__  # type: ignore[attr-defined]

ALERT_COLUMNS = tuple(c.name for c in ALERTS.columns)
_OPEN_VALUES = frozenset(s.value for s in OPEN_STATUSES)
_CHUNK = 500  # keeps IN (...) lists under every backend's parameter limit


class TransitionSink(Protocol):
    """Hears alert transitions inside the transaction that made them (the notify outbox)."""

    async def on_transitions(self, conn: AsyncConnection, transitions: Sequence[Transition]) -> None: ...


class NoSink:
    async def on_transitions(self, conn: AsyncConnection, transitions: Sequence[Transition]) -> None:
        return None


@dataclass(frozen=True, slots=True)
class EventResult:
    """What processing did with one event: the alert it touched and the outcome."""

    event_id: int
    alert_id: int | None
    outcome: Outcome


@dataclass
class _Pending:
    row: Row
    is_new: bool
    history: list[Row] = field(default_factory=list)


def _chunks(items: Sequence[Any], n: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


# The decision trace can be large and is only needed when an alert resolves (it is kept,
# with the resolve appended), so the batch load leaves it out.
LOAD_COLUMNS = [c for c in ALERTS.columns if c.name != "trace"]


async def load_open_alerts(
    conn: AsyncConnection, fingerprints: Iterable[str], *, for_update: bool, with_trace: Iterable[str] = ()
) -> dict[str, Row]:
    out: dict[str, Row] = {}
    fps = sorted(set(fingerprints))
    open_statuses = [s.value for s in OPEN_STATUSES]
    for chunk in _chunks(fps):
        stmt = select(*LOAD_COLUMNS).where(ALERTS.c.fingerprint.in_(chunk), ALERTS.c.status.in_(open_statuses))
        if for_update and conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        result = await conn.execute(stmt)
        keys = list(result.keys())
        for values in result:
            row = dict(zip(keys, values, strict=True))
            out[row["fingerprint"]] = row
    await load_traces(conn, out, with_trace)
    return out


async def load_traces(conn: AsyncConnection, rows: dict[str, Row], fingerprints: Iterable[str]) -> None:
    """Add the decision trace to the loaded open alerts of ``fingerprints`` (in place)."""
    open_statuses = [s.value for s in OPEN_STATUSES]
    traced = sorted(set(fingerprints) & set(rows))
    for chunk in _chunks(traced):
        stmt = select(ALERTS.c.fingerprint, ALERTS.c.trace).where(
            ALERTS.c.fingerprint.in_(chunk), ALERTS.c.status.in_(open_statuses)
        )
        for fp, trace in (await conn.execute(stmt)).all():
            rows[fp]["trace"] = trace


async def write_changes(
    conn: AsyncConnection,
    changes: Sequence[tuple[Row | None, Change]],
    sink: TransitionSink,
    originals: dict[int, Row] | None = None,
) -> list[int | None]:
    """Persist changes (each paired with the row object it mutates); returns alert ids in order.

    Several changes may target the same logical row (created, then deduplicated in the same
    batch); they share the same Row dict identity, so only the final state is written.
    """
    originals = originals or {}
    if (scope := scope_of(conn)) is not None:  # a partition transaction writes its own partitions only
        scope.require_local((ch.row.get("resource") for _, ch in changes if ch.row is not None), "an alert change")
    pendings: dict[int, _Pending] = {}
    order: list[int | None] = []
    transitions: list[tuple[int, Transition]] = []
    for _, ch in changes:
        if ch.row is None:
            order.append(None)
            continue
        key = id(ch.row)
        p = pendings.get(key)
        if p is None:
            p = pendings[key] = _Pending(ch.row, ch.is_new)
        p.history.extend(ch.history)
        transitions.extend((key, t) for t in ch.transitions)
        order.append(key)

    existing = [p for p in pendings.values() if not p.is_new]
    new = [p for p in pendings.values() if p.is_new]
    # Updates first: a row resolved in this batch must leave the open-fingerprint index
    # before a new open row with the same fingerprint is inserted.
    if existing:
        # Write only the columns that changed; rows with the same changed set share one executemany
        # (a duplicate touches 4-6 columns, not all 25).
        by_cols: dict[tuple[str, ...], list[Row]] = {}
        for p in existing:
            orig = originals.get(p.row["id"], {})
            cols = tuple(c for c in p.row if c != "id" and (c not in orig or orig[c] != p.row[c]))
            if cols:
                by_cols.setdefault(cols, []).append({"_id": p.row["id"], **{c: p.row[c] for c in cols}})
        for cols, params in by_cols.items():
            await _update_rows(conn, cols, params)
    if new:
        insert_cols = [c for c in ALERT_COLUMNS if c != "id"]
        result = await conn.execute(
            insert(ALERTS).returning(ALERTS.c.id, sort_by_parameter_order=True),
            [{c: p.row[c] for c in insert_cols} for p in new],
        )
        for p, alert_id in zip(new, result.scalars().all(), strict=True):
            p.row["id"] = alert_id
    history = [{**h, "alert_id": p.row["id"]} for p in pendings.values() for h in p.history]
    await insert_rows(conn, HISTORY, history)
    if transitions:
        # A transition holds the row as it was at that step; rows created in this batch got
        # their id only now.
        for key, t in transitions:
            t.alert["id"] = pendings[key].row["id"]
        await sink.on_transitions(conn, [t for _, t in transitions])
    if scope is not None:
        scope.touched.update(p.row["id"] for p in pendings.values())
    return [pendings[k].row["id"] if k is not None else None for k in order]


async def _update_rows(conn: AsyncConnection, cols: tuple[str, ...], params: list[Row]) -> None:
    """One executemany on the driver: values converted once here (JSON pre-encoded), not per row
    and column by SQLAlchemy's bind processors."""
    sqlite = conn.dialect.name == "sqlite"
    columns = [ALERTS.c[c] for c in cols]  # KeyError for anything that is not a column
    if sqlite:
        sets, where = ", ".join(f"{c} = ?" for c in cols), "id = ?"
    else:
        sets, where = ", ".join(f"{c} = ${i}" for i, c in enumerate(cols, 1)), f"id = ${len(cols) + 1}"
    rows = [(*(driver_value(col, p[col.name], sqlite=sqlite) for col in columns), p["_id"]) for p in params]
    await conn.exec_driver_sql(f"UPDATE alerts SET {sets} WHERE {where}", rows)


async def apply_decisions(
    conn: AsyncConnection,
    decisions: Sequence[Decision],
    now: datetime,
    *,
    default_timeout: int,
    sink: TransitionSink,
    open_rows: dict[str, Row] | None = None,
) -> list[EventResult]:
    """Apply decisions in order, write everything, mark the events processed; one transaction.

    ``open_rows``: the open alerts of every (non-dropped) fingerprint of the batch, when the
    correlator already loaded them (for update) in this transaction; else they are loaded here."""
    cleared = (d.fingerprint for d in decisions if d.is_clear and not d.drop)
    if open_rows is None:
        state = await load_open_alerts(conn, (d.fingerprint for d in decisions if not d.drop), for_update=True,
                                       with_trace=cleared)
    else:
        state = open_rows
        await load_traces(conn, state, cleared)
    originals = {row["id"]: dict(row) for row in state.values()}
    changes: list[tuple[Row | None, Change]] = []
    for d in decisions:
        current = state.get(d.fingerprint)
        ch = transition(current, EventTrigger(d, default_timeout), now)
        if ch.row is not None:
            if current is not None and not ch.is_new:
                # mutate in place so later decisions in the batch see (and share) the same row
                current.clear()
                current.update(ch.row)
                ch.row = current
            if ch.row["status"] in _OPEN_VALUES:
                state[d.fingerprint] = ch.row
            else:
                state.pop(d.fingerprint, None)
        changes.append((current, ch))
    alert_ids = await write_changes(conn, changes, sink, originals)
    results = [
        EventResult(d.event_id, alert_id, ch.outcome or Outcome.ignored)
        for d, alert_id, (_, ch) in zip(decisions, alert_ids, changes, strict=True)
    ]
    await mark_processed(conn, results, now)
    return results


async def mark_processed(conn: AsyncConnection, results: Sequence[EventResult], now: datetime) -> None:
    """The event log's processed markers, through the driver's bulk path (no per-row ORM processing)."""
    if not results:
        return
    if conn.dialect.name == "sqlite":
        at = sqlite_time(now)
        await conn.exec_driver_sql(
            "UPDATE events SET processed = 1, processed_at = ?, alert_id = ?, outcome = ? WHERE id = ?",
            [(at, r.alert_id, r.outcome.value, r.event_id) for r in results])
        return
    await conn.exec_driver_sql(
        "UPDATE events SET processed = true, processed_at = $1, alert_id = u.a, outcome = u.o "
        "FROM unnest($2::bigint[], $3::bigint[], $4::text[]) AS u(id, a, o) WHERE events.id = u.id",
        (now, [r.event_id for r in results], [r.alert_id for r in results], [r.outcome.value for r in results]))


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
    changes: list[tuple[Row | None, Change]] = []
    for alert_id in dict.fromkeys(alert_ids):
        if alert_id not in rows:
            continue
        try:
            ch = transition(rows[alert_id], ActionTrigger(action, actor, text), now)
        except Conflict:
            if skip_conflicts:
                continue
            raise
        changes.append((rows[alert_id], ch))
    await write_changes(conn, changes, sink, {r["id"]: r for r in rows.values()})
    return [ch.row for _, ch in changes if ch.row is not None]


async def write_redecisions(conn: AsyncConnection, changes: Sequence[tuple[Row, Change]],
                            sink: TransitionSink) -> int:
    """Persist suppression re-decisions (rows read whole, changes from the state machine)."""
    live = [(row, ch) for row, ch in changes if ch.row is not None]
    await write_changes(conn, live, sink, {row["id"]: row for row, _ in live})
    return len(live)


async def link_children(conn: AsyncConnection, parent_id: int, fingerprints: Any) -> None:
    """Set ``parent_id`` on the open alerts of ``fingerprints`` (a list or a SELECT of them) that are
    not yet linked to this parent: an incident's children, in one statement."""
    require_global(conn, "incident children")
    await conn.execute(
        update(ALERTS)
        .where(ALERTS.c.fingerprint.in_(fingerprints), ALERTS.c.status.in_([s.value for s in OPEN_STATUSES]),
               or_(ALERTS.c.parent_id.is_(None), ALERTS.c.parent_id != parent_id))
        .values(parent_id=parent_id))
