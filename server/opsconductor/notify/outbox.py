"""The transactional outbox: route alert transitions into notification rows in the same transaction.

:class:`NotifySink` is the pipeline's ``TransitionSink``. It runs inside the transaction that
changed the alerts, so a notification exists if and only if its alert change committed.
What each receiver was told is kept in ``notify_state``: only an announced alert's
acknowledgement, severity change, resolution or expiry is sent, and always to the
receivers that announced it (even if the alert no longer matches their route).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.model.alert import AlertStatus, TransitionKind
from opsconductor.model.lifecycle import Transition
from opsconductor.notify.config import NotifyConfig, Route
from opsconductor.notify.routing import group_due, group_key, match_routes
from opsconductor.notify.tables import GROUPS, NOTIFICATIONS, PENDING, STATE

FOLLOW_UPS = (TransitionKind.acknowledged, TransitionKind.unacknowledged, TransitionKind.resolved,
              TransitionKind.expired)
_CHUNK = 500


def json_safe(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, Mapping):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    return v


@dataclass
class _State:
    alert_id: int
    receiver: str
    route_id: str
    announced: bool
    seq: int
    repeat_at: datetime | None
    is_new: bool
    dirty: bool = False


@dataclass(frozen=True)
class Planned:
    """One notification to queue (pure planning output)."""

    alert: Mapping[str, Any]
    receiver: str
    route: Route
    kind: str
    transition: Transition


def _follow_up_route(cfg: NotifyConfig, routes: Mapping[str, Route], st: _State) -> Route | None:
    route = routes.get(st.route_id)
    if route is None or route.receiver != st.receiver:
        # the route was edited away: keep telling the receiver, with the root's timing
        if cfg.route is None:
            return None
        route = Route(st.route_id, lambda a: True, st.receiver, (), 0.0, 0.0, 0.0, cfg.route.notify_on, False, (), ())
    return route


def plan(cfg: NotifyConfig, enabled: Callable[[str], bool], transitions: Sequence[Transition],
         states: dict[tuple[int, str], _State], now: datetime) -> list[Planned]:
    """Decide the notifications of a batch of transitions; updates ``states`` in place."""
    routes = cfg.routes_by_id()
    by_alert: dict[int, list[_State]] = {}
    for (a, _), s in states.items():
        by_alert.setdefault(a, []).append(s)
    out: list[Planned] = []
    for t in transitions:
        alert = t.alert
        aid = int(alert["id"])
        kind = TransitionKind.firing if t.kind == TransitionKind.unsuppressed else t.kind
        announced = [s for s in by_alert.get(aid, ()) if s.announced]
        if kind == TransitionKind.suppressed:
            continue
        if kind in FOLLOW_UPS:
            for st in announced:
                route = _follow_up_route(cfg, routes, st)
                if route is not None and kind in route.notify_on:
                    out.append(Planned(alert, st.receiver, route, kind, t))
                if kind in (TransitionKind.resolved, TransitionKind.expired):
                    st.repeat_at, st.dirty = None, True
            continue
        # firing / severity_changed: only open, unsuppressed alerts are announced
        if alert["status"] not in (AlertStatus.active, AlertStatus.acknowledged):
            continue
        told = {s.receiver for s in announced}
        for route in match_routes(cfg.route, alert, now):
            if not enabled(route.receiver):
                continue
            if route.receiver in told:
                if kind == TransitionKind.severity_changed and kind in route.notify_on:
                    out.append(Planned(alert, route.receiver, route, kind, t))
                continue
            if TransitionKind.firing not in route.notify_on:
                continue
            found = states.get((aid, route.receiver))
            if found is None:
                found = states[(aid, route.receiver)] = _State(aid, route.receiver, route.id, False, 0, None, True)
                by_alert.setdefault(aid, []).append(found)
            st = found
            st.announced, st.route_id, st.dirty = True, route.id, True
            if route.repeat_interval > 0:
                st.repeat_at = now + timedelta(seconds=route.repeat_interval)
            told.add(route.receiver)
            out.append(Planned(alert, route.receiver, route, TransitionKind.firing, t))
        if kind == TransitionKind.severity_changed:
            matched = {r.receiver for r in match_routes(cfg.route, alert, now)}
            for st in announced:
                route = _follow_up_route(cfg, routes, st)
                if st.receiver not in matched and route is not None and kind in route.notify_on:
                    out.append(Planned(alert, st.receiver, route, kind, t))
    return out


def _flat_alert(alert: Mapping[str, Any]) -> dict[str, Any]:
    # alert rows are flat apart from labels (str -> str): a cheap, non-recursive json_safe
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in alert.items() if k != "trace"}


def snapshot(p: Planned) -> dict[str, Any]:
    t = p.transition
    return {
        "alert": _flat_alert(p.alert),
        "transition": p.kind,
        "previous_status": t.previous_status,
        "previous_severity": t.previous_severity,
        "actor": t.actor,
        "note": t.text,
    }


class NotifySink:
    """The pipeline's transition sink: routes transitions into outbox rows (same transaction)."""

    def __init__(self, config: Callable[[], NotifyConfig], enabled: Callable[[str], bool],
                 clock: Callable[[], datetime], wake: Callable[[], None]):
        self._config = config
        self._enabled = enabled
        self._clock = clock
        self._wake = wake

    async def on_transitions(self, conn: AsyncConnection, transitions: Sequence[Transition]) -> None:
        cfg = self._config()
        if not transitions:
            return
        now = self._clock()
        states = await load_states(conn, {int(t.alert["id"]) for t in transitions})
        if cfg.route is None and not any(s.announced for s in states.values()):
            return
        planned = plan(cfg, self._enabled, transitions, states, now)
        await queue(conn, planned, states, now)
        if planned:
            self._wake()


async def load_states(conn: AsyncConnection, alert_ids: set[int]) -> dict[tuple[int, str], _State]:
    out: dict[tuple[int, str], _State] = {}
    ids = sorted(alert_ids)
    for i in range(0, len(ids), _CHUNK):
        rows = await conn.execute(select(STATE).where(STATE.c.alert_id.in_(ids[i : i + _CHUNK])))
        for r in rows.mappings():
            out[(r["alert_id"], r["receiver"])] = _State(
                r["alert_id"], r["receiver"], r["route_id"], r["announced"], r["seq"], r["repeat_at"], False
            )
    return out


async def queue(conn: AsyncConnection, planned: Sequence[Planned], states: dict[tuple[int, str], _State],
                now: datetime) -> None:
    """Insert the planned rows, advance group timers and persist notify_state."""
    groups: dict[str, tuple[datetime | None, datetime | None]] = {}
    keys = sorted({group_key(p.route, p.alert) for p in planned if p.route.group_wait or p.route.group_interval})
    for i in range(0, len(keys), _CHUNK):
        rows = await conn.execute(select(GROUPS).where(GROUPS.c.key.in_(keys[i : i + _CHUNK])))
        for r in rows.mappings():
            groups[r["key"]] = (r["next_flush_at"], r["last_flush_at"])
    new_groups: set[str] = set(keys) - set(groups)
    rows_out: list[dict[str, Any]] = []
    for p in planned:
        aid = int(p.alert["id"])
        st = states.get((aid, p.receiver))
        if st is None:  # a follow-up always has a state; be defensive for hand-edited tables
            st = states[(aid, p.receiver)] = _State(aid, p.receiver, p.route.id, False, 0, None, True)
        st.seq += 1
        st.dirty = True
        gk = group_key(p.route, p.alert)
        if p.route.group_wait or p.route.group_interval:
            nxt, last = groups.get(gk, (None, None))
            due = group_due(now, p.route, nxt, last)
            groups[gk] = (due, last)
        else:
            due = now
        rows_out.append({
            "alert_id": aid, "receiver": p.receiver, "route_id": p.route.id, "transition": p.kind,
            "idem_key": f"oc-{aid}-{p.receiver}-{st.seq}-{p.kind}"[:200], "group_key": gk, "batch_key": None,
            "status": PENDING, "payload": snapshot(p), "created_at": now, "due_at": due, "lease_until": None,
            "sent_at": None, "attempts": 0, "last_error": None, "last_status_code": None,
        })
    if rows_out:
        await conn.execute(insert(NOTIFICATIONS), rows_out)
    touched = {k: v for k, v in groups.items() if k in keys}
    if touched:
        ins = [{"key": k, "next_flush_at": v[0], "last_flush_at": v[1]} for k, v in touched.items() if k in new_groups]
        upd = [{"_key": k, "next_flush_at": v[0]} for k, v in touched.items() if k not in new_groups]
        if ins:
            await conn.execute(insert(GROUPS), ins)
        if upd:
            await conn.execute(update(GROUPS).where(GROUPS.c.key == bindparam("_key"))
                               .values(next_flush_at=bindparam("next_flush_at")), upd)
    await save_states(conn, [s for s in states.values() if s.dirty], now)


async def save_states(conn: AsyncConnection, states: Sequence[_State], now: datetime) -> None:
    new = [s for s in states if s.is_new]
    old = [s for s in states if not s.is_new]
    if new:
        await conn.execute(insert(STATE), [
            {"alert_id": s.alert_id, "receiver": s.receiver, "route_id": s.route_id, "announced": s.announced,
             "seq": s.seq, "ext_ref": {}, "repeat_at": s.repeat_at, "updated_at": now} for s in new
        ])
        for s in new:
            s.is_new = False
    if old:
        await conn.execute(
            update(STATE).where(STATE.c.alert_id == bindparam("_a"), STATE.c.receiver == bindparam("_r"))
            .values(route_id=bindparam("route_id"), announced=bindparam("announced"), seq=bindparam("seq"),
                    repeat_at=bindparam("repeat_at"), updated_at=bindparam("updated_at")),
            [{"_a": s.alert_id, "_r": s.receiver, "route_id": s.route_id, "announced": s.announced, "seq": s.seq,
              "repeat_at": s.repeat_at, "updated_at": now} for s in old],
        )
