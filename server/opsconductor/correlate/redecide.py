"""The suppression stage: open alerts are decided again as soon as a reason starts or ends.

- In the batch's own transaction (:meth:`RulesSuppression.after_batch`): the alerts that the
  batch's changes can inhibit or release (an inhibiting alert arrived, resolved or expired; a
  correlation parent opened or closed). Where that cannot be narrowed, a full pass is kicked
  off at once, right after the batch commits.
- On time (:meth:`RulesSuppression.loop`): a timer set at the next known boundary (a silence's
  ``starts_at``/``ends_at``), a check of which maintenance windows are open every
  :data:`WINDOW_CHECK_S`, and of the active silences (made by any server process) and the rule
  set version at least every :data:`MAX_SLEEP_S`; when any of them changed, a pass runs at once.
- On request (:meth:`RulesSuppression.run_pass`): the silences API after a create or delete.
- As a backstop, a pass every ``rules_reevaluate_interval_s``.

Every pass is the incremental :class:`~opsconductor.correlate.reevaluate.Reevaluator`, one
store transaction (with the processing lock) per page; changes go through the state machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.correlate.correlator import RulesCorrelator
from opsconductor.correlate.evaluate import in_schedule
from opsconductor.correlate.reevaluate import _CANDIDATE, _NARROW, Reevaluator, _affected_by_changes, _redecide
from opsconductor.correlate.state import SILENCES
from opsconductor.correlate.suppress import unindexed
from opsconductor.store.alert_store import AlertStore
from opsconductor.store.alert_writer import ALERTS, HISTORY, TransitionSink
from opsconductor.store.partitions import require_global, require_local, scope_of

WINDOW_CHECK_S = 0.25
"""How often the open maintenance windows are checked (pure, no database)."""
MAX_SLEEP_S = 0.5
"""Longest sleep between checks of the active silences (made by other server processes too)."""


class RulesSuppression:
    """Implements the pipeline's ``Suppression`` stage for the rules correlator."""

    def __init__(self, correlator: RulesCorrelator, reevaluator: Reevaluator | None = None):
        self.correlator = correlator
        self.reevaluator = reevaluator or Reevaluator()
        self._kick = asyncio.Event()
        self.passes = 0  # passes run (tests, metrics)

    # -- in the batch transaction ------------------------------------------------------------
    def _stateful(self) -> bool:
        rs = self.correlator.current.ruleset
        return bool(rs.of_kind("inhibit") or rs.of_kind("correlate"))

    async def mark(self, conn: AsyncConnection) -> int:
        if not self._stateful():
            return -1
        return int((await conn.execute(select(func.max(HISTORY.c.id)))).scalar_one_or_none() or 0)

    async def after_batch(self, conn: AsyncConnection, mark: int, now: datetime, sink: TransitionSink) -> int:
        if mark < 0:
            return 0
        top = int((await conn.execute(select(func.max(HISTORY.c.id)))).scalar_one_or_none() or 0)
        # A partition transaction looks only at its own alerts' history: a concurrent one's rows
        # are its own business (store/partitions.py).
        scope = scope_of(conn)
        targets = await _affected_by_changes(conn, self.correlator, mark, top,
                                             only=None if scope is None else scope.touched)
        if targets is None:  # cannot be narrowed: a full pass as soon as this batch commits
            require_global(conn, "re-decisions that cannot be narrowed")
            self.kick()
            return 0
        if not targets:
            return 0
        ids = sorted(targets)
        rows: list[dict[str, Any]] = []
        for i in range(0, len(ids), 1000):
            rows += [dict(r) for r in (await conn.execute(select(*_NARROW).where(
                ALERTS.c.id.in_(ids[i : i + 1000]), unindexed(ALERTS.c.status).in_(_CANDIDATE)))).mappings()]
        require_local(conn, (r["resource"] for r in rows), "a re-decision")
        return await _redecide(conn, self.correlator, rows, now, sink)

    # -- passes ------------------------------------------------------------------------------
    def kick(self) -> None:
        """Run a pass soon (the loop wakes at once)."""
        self._kick.set()

    async def run_pass(self, store: AlertStore) -> int:
        """One re-evaluation pass, a store transaction per page; returns how many alerts changed."""
        async with self.reevaluator.lock:  # the loop and the API may both ask; one pass at a time
            self.passes += 1
            while True:
                async with store.transaction() as conn:
                    changed = await self.reevaluator.step(conn, self.correlator, store.clock(), store.sink)
                if changed is not None:
                    return changed

    def _open_windows(self, now: datetime) -> frozenset[str]:
        return frozenset(r.id for r in self.correlator.current.ruleset.of_kind("maintenance")
                         if r.schedule is not None and in_schedule(r.schedule, now))

    async def _world(self, store: AlertStore, now: datetime) -> tuple[Any, ...]:
        """What suppression depends on in time: the active silences, the open windows, the rules;
        and the next time a silence starts or ends (None: none known)."""
        async with store.db.read() as conn:
            active = frozenset((await conn.execute(select(SILENCES.c.id).where(
                SILENCES.c.starts_at <= now, SILENCES.c.ends_at > now))).scalars().all())
            starts = (await conn.execute(select(func.min(SILENCES.c.starts_at)).where(
                SILENCES.c.starts_at > now))).scalar_one_or_none()
            ends = (await conn.execute(select(func.min(SILENCES.c.ends_at)).where(
                SILENCES.c.ends_at > now))).scalar_one_or_none()
        known = [t for t in (starts, ends) if t is not None]
        world = (active, self._open_windows(now), self.correlator.current.version)
        return world, (min(known) if known else None)

    async def loop(self, store: AlertStore, backstop_s: float) -> None:
        """Run a pass when what suppression depends on changed (checked at the next silence
        boundary, every :data:`WINDOW_CHECK_S` with maintenance rules, at least every
        :data:`MAX_SLEEP_S`), when kicked, and every ``backstop_s``."""
        last, boundary = await self._world(store, store.clock())
        backstop_due = time.monotonic() + backstop_s
        while True:
            now = store.clock()
            wait = min(MAX_SLEEP_S, max(0.0, backstop_due - time.monotonic()))
            if self.correlator.current.ruleset.of_kind("maintenance"):
                wait = min(wait, WINDOW_CHECK_S)
            if boundary is not None:
                wait = min(wait, max(0.0, (boundary - now).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout=wait)
            kicked = self._kick.is_set()
            self._kick.clear()
            world, boundary = await self._world(store, store.clock())
            due = time.monotonic() >= backstop_due
            if kicked or due or world != last:
                last = world
                await self.run_pass(store)
                if due:
                    backstop_due = time.monotonic() + backstop_s
