"""Topology suppression: what sits behind a down device does not page.

Targets name their upstreams (``depends_on``, from the inventory file, the targets API or
NetBox). A ``topology:`` rule says which open alert means "down" (e.g. ``event:
device_down``). A new alert on a target is suppressed with ``upstream <name> down`` while
**every** path upstream is cut: each upstream is itself down, or cut off further up
(chains: access -> distribution -> core; several upstreams: suppressed only while all
are). The reason names the root: the most upstream down device on the first cut path.

When an upstream recovers, its dependents stay suppressed for the rule's ``settle`` time,
so those that recover with it never page; the re-evaluation job activates the rest once
settle is over. A clear is never suppressed (the suppression check does not run for it).

Pure: :func:`cut_path` decides on data; :func:`load_view` is the one query per batch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.correlate.matchers import matches, patterns
from opsconductor.correlate.rules import Rule
from opsconductor.model.alert import AlertStatus
from opsconductor.model.event import NormalizedEvent
from opsconductor.store.alert_writer import ALERTS
from opsconductor.store.tables import OPEN_STATUS_SQL

_IN = 500  # names per IN (...) list


@dataclass(frozen=True)
class Graph:
    """Target name -> the names of its upstreams."""

    deps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def ancestors(self, names: Iterable[str]) -> set[str]:
        out: set[str] = set()
        todo = [u for n in names for u in self.deps.get(n, ())]
        while todo:
            n = todo.pop()
            if n not in out:
                out.add(n)
                todo.extend(self.deps.get(n, ()))
        return out


def graph_of(targets: Iterable[Any]) -> Graph:
    """The dependency graph of targets (anything with ``name`` and ``depends_on``)."""
    return Graph({t.name: tuple(t.depends_on) for t in targets if getattr(t, "depends_on", ())})


@dataclass(frozen=True)
class Down:
    """An upstream that is down (``settling_until`` None) or recovered and still settling."""

    resource: str
    event: str
    fingerprint: str
    alert_id: int | None
    settling_until: datetime | None = None


def cut_path(graph: Graph, node: str, down: Mapping[str, Down]) -> list[str] | None:
    """``[node, upstream, ..., root]`` when every path from ``node`` upstream is cut, else None.
    A node with no upstreams is never cut; a cycle counts as a live path (never suppress on doubt)."""
    memo: dict[str, list[str] | None] = {}

    def walk(n: str, stack: frozenset[str]) -> list[str] | None:
        if n in memo:
            return memo[n]
        ups = graph.deps.get(n, ())
        if not ups:
            return None
        first: list[str] | None = None
        for u in ups:
            if u in stack:
                memo[n] = None
                return None
            above = walk(u, stack | {u})
            if above is not None:
                path = above  # u is cut off further up: name the root cause
            elif u in down:
                path = [u]
            else:
                memo[n] = None
                return None  # a live path
            first = first or path
        memo[n] = [n, *first] if first else None
        return memo[n]

    return walk(node, frozenset({node}))


@dataclass
class TopologyView:
    """What one batch (or one re-evaluation page) needs: the graph and, per rule, what is down."""

    rules: Sequence[Rule]
    graph: Graph
    now: datetime
    down: dict[str, dict[str, Down]] = field(default_factory=dict)  # rule id -> resource -> Down
    regexes: dict[str, re.Pattern[str]] = field(default_factory=dict)
    _nodes: set[str] | None = None

    def is_down_event(self, rule: Rule, ev: NormalizedEvent) -> bool:
        assert rule.topology_down is not None
        return ev.resource in self.graph_nodes and matches(rule.topology_down, ev, self.regexes)

    @property
    def graph_nodes(self) -> set[str]:
        nodes = self._nodes
        if nodes is None:
            nodes = set(self.graph.deps) | {u for ups in self.graph.deps.values() for u in ups}
            self._nodes = nodes
        return nodes

    def changes(self, ev: NormalizedEvent, fp: str, is_clear: bool) -> bool:
        """Would :meth:`observe` change what is down (what other resources' alerts depend on)?"""
        for rule in self.rules:
            if is_clear:
                d = self.down.get(rule.id, {}).get(ev.resource)
                if d is not None and d.fingerprint == fp:
                    return True
            elif self.is_down_event(rule, ev):
                return True
        return False

    def observe(self, ev: NormalizedEvent, fp: str, is_clear: bool) -> None:
        """An event earlier in this batch: a down alert opens, or its clear starts the settle time."""
        for rule in self.rules:
            down = self.down.setdefault(rule.id, {})
            if is_clear:
                d = down.get(ev.resource)
                if d is not None and d.fingerprint == fp and d.settling_until is None:
                    down[ev.resource] = Down(d.resource, d.event, fp, d.alert_id,
                                             self.now + timedelta(seconds=rule.topology_settle))
            elif self.is_down_event(rule, ev):
                prev = down.get(ev.resource)
                down[ev.resource] = Down(ev.resource, ev.event, fp, prev.alert_id if prev and prev.fingerprint == fp
                                         else None)

    def reason(self, ev: NormalizedEvent) -> tuple[str, dict[str, Any]] | None:
        """The suppression reason and trace entry for a (non-clear) event, or None."""
        if ev.resource not in self.graph.deps:
            return None
        for rule in self.rules:
            if rule.topology_suppress is not None and not matches(rule.topology_suppress, ev, self.regexes):
                continue
            down = self.down.get(rule.id, {})
            path = cut_path(self.graph, ev.resource, down)
            if path is None:
                continue
            root = down[path[-1]]
            link = f"alert {root.alert_id}" if root.alert_id is not None else "alert opening in this batch"
            settling = (f"; recovered, settling until {root.settling_until.isoformat().replace('+00:00', 'Z')}"
                        if root.settling_until is not None else "")
            reason = f"upstream {root.resource} down ({link}{settling})"
            detail = f"path {' -> '.join(path)}: {root.event} on {root.resource} ({link}){settling}"
            return reason, {"stage": "topology", "rule": rule.id, "at": str(rule.where), "detail": detail,
                            "alert": root.alert_id, "path": path,
                            "link": f"/api/v1/alerts/{root.alert_id}" if root.alert_id is not None else None}
        return None


async def load_view(conn: AsyncConnection, rules: Sequence[Rule], graph: Graph, events: Sequence[NormalizedEvent],
                    now: datetime) -> TopologyView | None:
    """The view for these events: None when no event sits behind anything (no query then)."""
    if not rules or not graph.deps:
        return None
    behind = {e.resource for e in events if e.resource in graph.deps}
    view = TopologyView(rules, graph, now)
    for rule in rules:
        for m in (rule.topology_down, rule.topology_suppress):
            if m is not None:
                view.regexes.update({p: re.compile(p) for p in patterns(m)})
    if not behind:
        return view  # events of this batch may still open or clear an upstream (observe)
    upstream = sorted(graph.ancestors(behind))
    settle = max(rule.topology_settle for rule in rules)
    since = now - timedelta(seconds=settle)
    rows: list[dict[str, Any]] = []
    for i in range(0, len(upstream), _IN):
        stmt = select(ALERTS.c.id, ALERTS.c.fingerprint, ALERTS.c.resource, ALERTS.c.event, ALERTS.c.component,
                      ALERTS.c.severity, ALERTS.c.summary, ALERTS.c.value, ALERTS.c.labels, ALERTS.c.source,
                      ALERTS.c.status, ALERTS.c.resolved_at).where(
            ALERTS.c.resource.in_(upstream[i : i + _IN]),
            or_(text(OPEN_STATUS_SQL),
                (ALERTS.c.status == AlertStatus.resolved.value) & (ALERTS.c.resolved_at >= since)))
        rows.extend(dict(r) for r in (await conn.execute(stmt)).mappings())
    from opsconductor.correlate.suppress import row_event  # (suppress imports this module)

    for rule in rules:
        assert rule.topology_down is not None
        down: dict[str, Down] = {}
        for r in sorted(rows, key=lambda r: r["id"]):
            if not matches(rule.topology_down, row_event(r), view.regexes):
                continue
            if r["status"] == AlertStatus.resolved.value:
                until = r["resolved_at"] + timedelta(seconds=rule.topology_settle)
                if until <= now or (r["resource"] in down and down[r["resource"]].settling_until is None):
                    continue
                down[r["resource"]] = Down(r["resource"], r["event"], r["fingerprint"], r["id"], until)
            else:
                down[r["resource"]] = Down(r["resource"], r["event"], r["fingerprint"], r["id"])
        view.down[rule.id] = down
    return view
