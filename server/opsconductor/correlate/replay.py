"""Replay the stored event log through rule sets, in isolation, and say what a change changes.

Each replay runs the REAL pipeline (correlate -> lifecycle -> alert table, the
re-evaluation job, heartbeat deadlines, incident links) on a private temporary SQLite
database with a clock that follows the events' own receive times: nothing is written to
the server's database and nothing is notified. Which receivers *would* hear about an
alert is decided by the notify stage's pure routing (``notify.outbox.plan``) on the
transitions the replay records.

Events are processed in slices of at most :data:`SLICE` events spanning at most
``resolution_s`` seconds of log time (the store's clock is the slice's last receive time;
maintenance windows, flap changes and correlation windows use each event's own receive
time), and the server's timed jobs run whenever the log's clock passed ``reevaluate_s``
seconds: heartbeat deadlines, alert expiry and the re-evaluation pass. Alerts not seen within
their timeout expire in log time: before each slice, those due by its first event's time (as
the server's housekeeping would have expired them before that event arrived). Heartbeats sent
to ``POST /api/v1/heartbeats`` are not in the event log (the server keeps only each origin's
last one) and are not replayed.

:func:`replay_diff` runs the two replays at the same time, each in a worker process of its
own, on scratch databases (``Database(scratch=True)``: no fsync, the driver in the loop's
thread); ``bench/replay.py`` measures it.

Events the server derived itself (correlation parents, heartbeat_missing) are not
replayed: each replay derives its own.

:func:`diff` compares two replays alert by alert, keyed by the log event that opened the
alert (parents by what they are), and groups the differences per rule and change.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import pickle
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.correlate.compiled import CompiledRuleSet
from opsconductor.correlate.correlator import RulesCorrelator
from opsconductor.correlate.heartbeats import EVENT as HEARTBEAT_EVENT
from opsconductor.correlate.heartbeats import SOURCE as HEARTBEAT_SOURCE
from opsconductor.correlate.heartbeats import expire
from opsconductor.correlate.redecide import RulesSuppression
from opsconductor.correlate.reevaluate import Reevaluator
from opsconductor.correlate.rules import RuleSet
from opsconductor.correlate.topology import Graph
from opsconductor.metrics import Metrics
from opsconductor.model.alert import Outcome
from opsconductor.model.decision import AcceptedEvent
from opsconductor.model.lifecycle import Transition
from opsconductor.pipeline import STATS_MIN_GROWTH, Pipeline, build_pipeline
from opsconductor.store.alert_writer import ALERTS, EVENTS, EventResult
from opsconductor.store.db import Database
from opsconductor.store.event_log import accept_in, fetch_unprocessed, stored_event

SLICE = 5_000
EXAMPLES = 3

logger = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    received_at: datetime
    payload: dict[str, Any]


def is_derived(payload: Mapping[str, Any]) -> bool:
    """An event the server made itself (a replay makes its own)."""
    labels = payload.get("labels") or {}
    if payload.get("source") == "opsconductor" and "correlated_by" in labels:
        return True
    return payload.get("source") == HEARTBEAT_SOURCE and payload.get("event") == HEARTBEAT_EVENT


async def read_log(conn: AsyncConnection, since: datetime | None, limit: int | None = None) -> list[LoggedEvent]:
    """The stored event log in arrival order (optionally since a time), without derived events."""
    stmt = select(EVENTS.c.received_at, EVENTS.c.payload).order_by(EVENTS.c.id)
    if since is not None:
        stmt = stmt.where(EVENTS.c.received_at >= since)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [LoggedEvent(r.received_at, r.payload) for r in (await conn.execute(stmt)).all()
            if not is_derived(r.payload)]


class _RecordingSink:
    """Hears transitions and decides, with the notify stage's routing, which receivers would be told."""

    def __init__(self, plan: Callable[[Sequence[Transition], datetime], list[Any]] | None,
                 clock: Callable[[], datetime]):
        self._plan = plan
        self._clock = clock
        self.receivers: dict[int, set[str]] = {}

    async def on_transitions(self, conn: AsyncConnection, transitions: Sequence[Transition]) -> None:
        if self._plan is None:
            return
        for p in self._plan(transitions, self._clock()):
            if p.kind == "firing":
                self.receivers.setdefault(int(p.alert["id"]), set()).add(p.receiver)


def notify_planner(cfg: Any) -> Callable[[Sequence[Transition], datetime], list[Any]]:
    """A planner over a NotifyConfig that remembers which alerts it announced (in memory)."""
    from opsconductor.notify.outbox import plan

    by_alert: dict[int, dict[Any, Any]] = {}  # alert id -> its (alert id, receiver) states

    def run(transitions: Sequence[Transition], now: datetime) -> list[Any]:
        # only the states of these alerts, as the outbox loads them: plan() scans what it is given
        ids = {int(t.alert["id"]) for t in transitions}
        states = {k: v for i in ids for k, v in by_alert.get(i, {}).items()}
        out = plan(cfg, lambda _r: True, transitions, states, now)
        for k, v in states.items():
            by_alert.setdefault(int(k[0]), {})[k] = v
        return out

    return run


@dataclass
class ReplayRun:
    """The outcome of one replay: every alert (by key) as it ended, and the figures."""

    version: str
    events: int
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class _Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _template(directory: Path) -> Path:
    path = directory / "template.db"
    if not path.exists():
        from opsconductor.store.migrate import upgrade

        alembic_log = logging.getLogger("alembic")
        level = alembic_log.level
        alembic_log.setLevel(logging.WARNING)
        try:
            await upgrade(f"sqlite+aiosqlite:///{path}")
        finally:
            alembic_log.setLevel(level)
    return path


async def replay(compiled: CompiledRuleSet, log: Sequence[LoggedEvent], *, workdir: Path,
                 graph: Callable[[], Graph] = Graph, inventory: Callable[[], Mapping[str, Any]] = dict,
                 notify: Any | None = None, resolution_s: float = 5.0, reevaluate_s: float = 15.0,
                 default_timeout: int = 86_400, scratch: bool = True) -> ReplayRun:
    """Replay ``log`` through ``compiled`` on a private database under ``workdir``.

    ``scratch``: the database's fast settings (``Database(scratch=True)``); off, the server's
    settings (the same outcome, slower: tests compare the two)."""
    run = ReplayRun(compiled.version, len(log))
    if not log:
        return run
    path = workdir / f"run-{uuid.uuid4().hex[:12]}.db"
    shutil.copyfile(await _template(workdir), path)
    db = Database(f"sqlite+aiosqlite:///{path}", scratch=scratch)  # throwaway: no fsync, no driver thread
    clock = _Clock(log[0].received_at)
    correlator = RulesCorrelator(compiled, clock)
    correlator.topology_graph, correlator.inventory = graph, inventory
    correlator.event_time = True  # windows, flap and correlation counts at each event's own time
    sink = _RecordingSink(notify_planner(notify) if notify is not None else None, clock)
    # No periodic full sweep: it is the server's backstop for changes no history row records
    # (operator actions, silences edited elsewhere), and a replay has none; a rule set or window
    # change still sweeps everything.
    suppression = RulesSuppression(correlator, Reevaluator(full_every=1 << 62))
    pipeline = build_pipeline(db, metrics=Metrics(), correlator=correlator, suppression=suppression, sink=sink,
                              clock=clock, batch_size=SLICE, default_timeout=default_timeout)
    opened: dict[int, int] = {}  # alert id -> index of the logged event that opened it
    heartbeats = bool(compiled.ruleset.of_kind("heartbeat"))  # else no heartbeat ever expires
    growth = _Growth(db)
    started = time.perf_counter()
    try:
        last_pass = log[0].received_at
        i = 0
        while i < len(log):
            j, first = i + 1, log[i].received_at
            limit = first + timedelta(seconds=resolution_s)
            while j < len(log) and j - i < SLICE and log[j].received_at <= limit:
                j += 1
            if first > clock.now:  # time passed: what expired meanwhile expires before these events
                clock.now = first
                await pipeline.expire_due()
            clock.now = max(clock.now, log[j - 1].received_at)
            # negative ids: these events are not rows of the replay's event log (derived ones are)
            batch = [AcceptedEvent(-(k + 1), stored_event(log[k].payload, log[k].received_at), log[k].received_at)
                     for k in range(i, j)]
            created = 0
            for r in await _process(pipeline, correlator, suppression, batch, clock.now, heartbeats=heartbeats):
                if r.alert_id is not None and r.outcome in (Outcome.created, Outcome.suppressed):
                    opened.setdefault(r.alert_id, -r.event_id - 1)
                    created += 1
            await growth.created(created)
            if (clock.now - last_pass).total_seconds() >= reevaluate_s or j == len(log):
                last_pass = clock.now
                await _housekeeping(pipeline, suppression, clock.now, heartbeats=heartbeats)
            i = j
        run.seconds = time.perf_counter() - started
        async with db.read() as conn:
            run.alerts = await _alerts(conn, opened, sink.receivers)
    finally:
        await db.dispose()
    return run


class _Growth:
    """The processor's rule for planner statistics (``Pipeline._track_growth``): ANALYZE once the
    alert table doubled (at least :data:`~opsconductor.pipeline.STATS_MIN_GROWTH` new alerts).
    Without statistics SQLite reads every open alert for queries an index answers."""

    def __init__(self, db: Database):
        self.db = db
        self.since = 0
        self.rows = 0

    async def created(self, n: int) -> None:
        self.since += n
        if self.since > max(STATS_MIN_GROWTH, self.rows):
            self.rows += self.since
            self.since = 0
            await self.db.analyze()


async def _process(pipeline: Pipeline, correlator: RulesCorrelator, suppression: RulesSuppression,
                   batch: Sequence[AcceptedEvent], now: datetime, *, heartbeats: bool) -> list[EventResult]:
    """The pipeline's batch step (correlate -> store -> incident links -> suppression) for events
    that are not in the event log, then the events the batch derived (parents, clears), in one
    transaction. Nothing is left unprocessed in the replay's log afterwards. (Derived events are
    the ones a step accepted, or, with heartbeat rules, a heartbeat's clear: without either the
    log is not read.)"""
    async with pipeline.store.transaction() as conn:
        results, pending = await _step(pipeline, correlator, suppression, conn, batch, now)
        while (pending or heartbeats) and (derived := await fetch_unprocessed(conn, SLICE)):
            _, accepted = await _step(pipeline, correlator, suppression, conn, derived, now)
            pending = accepted or len(derived) == SLICE  # (a full read may have left more)
    return results


async def _step(pipeline: Pipeline, correlator: RulesCorrelator, suppression: RulesSuppression,
                conn: AsyncConnection, batch: Sequence[AcceptedEvent], now: datetime
                ) -> tuple[list[EventResult], bool]:
    """One batch through the stages; and whether it accepted derived events."""
    decided = await correlator.decide(conn, batch)
    await accept_in(conn, decided.derived, now)
    mark = await suppression.mark(conn)
    results = await pipeline.store.apply_decisions(conn, decided.decisions, now, decided.open_rows)
    linked = await correlator.after_apply(conn, decided.decisions)
    await accept_in(conn, linked, now)
    await suppression.after_batch(conn, mark, now, pipeline.sink)
    return results, bool(decided.derived or linked)


async def _housekeeping(pipeline: Pipeline, suppression: RulesSuppression, now: datetime, *,
                        heartbeats: bool) -> None:
    """The server's timed jobs at log time ``now``: heartbeat deadlines (their heartbeat_missing
    events processed at once), alert expiry (``Pipeline.expire_due``: open alerts whose
    last_seen + timeout passed), then a re-evaluation pass. (Neither expiry nor the pass appends
    events, and every batch's derived events were processed with it: nothing else to drain.)"""
    if heartbeats:
        async with pipeline.db.write() as conn:
            missing = await expire(conn, now)
        if missing:
            await pipeline.drain()
    await pipeline.expire_due()
    await suppression.run_pass(pipeline.store)


async def _alerts(conn: AsyncConnection, opened: Mapping[int, int], receivers: Mapping[int, set[str]]
                  ) -> dict[str, dict[str, Any]]:
    """Every alert of the replay by a key both replays share: ``event <n>`` (the n-th logged event
    opened it) or, for alerts opened by derived events, ``<event> on <resource> #k``."""
    rows = [dict(r) for r in (await conn.execute(select(ALERTS).order_by(ALERTS.c.id))).mappings()]
    by_id = {r["id"]: r for r in rows}
    created = await _created(conn)
    out: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}
    for r in rows:
        if r["id"] in opened:
            key = f"event {opened[r['id']] + 1}"
        else:
            name = f"{r['event']} on {r['resource']}"
            seen[name] = seen.get(name, 0) + 1
            key = f"{name} #{seen[name]}"
        parent = by_id.get(r["parent_id"]) if r.get("parent_id") else None
        out[key] = {
            "resource": r["resource"], "event": r["event"], "component": r["component"],
            "created": created.get(r["id"], (r["status"], None))[0], "status": r["status"],
            "suppressed_reason": _plain(created.get(r["id"], (None, None))[1] or r["suppressed_reason"]),
            "severity": r["severity"],
            "rule_id": r["rule_id"],
            "parent": f"{parent['event']} on {parent['resource']}" if parent else None,
            "receivers": sorted(receivers.get(r["id"], ())),
        }
    return out


_ALERT_ID = re.compile(r"\balert \d+")


def _plain(reason: str | None) -> str | None:
    """A reason without alert ids (they differ between two replays)."""
    return _ALERT_ID.sub("alert #", reason) if reason else None


async def _created(conn: AsyncConnection) -> dict[int, tuple[str, str | None]]:
    """Per alert: the status it was created with and, if suppressed, why (its first history row)."""
    from opsconductor.store.alert_writer import HISTORY

    stmt = select(HISTORY.c.alert_id, HISTORY.c.status, HISTORY.c.text).where(HISTORY.c.kind == "created")
    out: dict[int, tuple[str, str | None]] = {}
    for a, status, text in (await conn.execute(stmt)).all():
        why = text[len("suppressed: "):] if isinstance(text, str) and text.startswith("suppressed: ") else None
        out.setdefault(int(a), (str(status), why))
    return out


COMPARED = ("created", "suppressed_reason", "severity", "parent", "receivers")


def diff(base: ReplayRun, new: ReplayRun, examples: int = EXAMPLES) -> dict[str, Any]:
    """What differs between two replays, grouped per (rule, change), with counts and examples."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}

    def add(rule: str | None, change: str, key: str, b: dict[str, Any] | None, n: dict[str, Any] | None) -> None:
        g = groups.setdefault((rule or "(no rule)", change), {"rule": rule or "(no rule)", "change": change,
                                                              "count": 0, "examples": []})
        g["count"] += 1
        if len(g["examples"]) < examples:
            g["examples"].append({"alert": key, "base": b, "new": n})

    for key in sorted(base.alerts.keys() | new.alerts.keys(), key=_natural):
        b, n = base.alerts.get(key), new.alerts.get(key)
        if b is None or n is None:
            rule = (n or b or {}).get("rule_id")
            add(rule, "created only with the new rules" if b is None else "no longer created", key, b, n)
            continue
        for f in COMPARED:
            if b[f] != n[f]:
                change = {"created": "suppressed or not", "suppressed_reason": "suppression reason",
                          "severity": "severity", "parent": "parent grouping", "receivers": "receivers"}[f]
                add(n["rule_id"] or b["rule_id"], change, key, b, n)
    diffs = sorted(groups.values(), key=lambda g: (-g["count"], g["rule"], g["change"]))
    return {"events": new.events, "base": _summary(base), "new": _summary(new), "changed": bool(diffs),
            "differences": diffs}


def _summary(run: ReplayRun) -> dict[str, Any]:
    created = sum(1 for a in run.alerts.values() if a["created"] != "suppressed")
    return {"version": run.version, "alerts": len(run.alerts), "created_active": created,
            "created_suppressed": len(run.alerts) - created,
            "notified": sum(1 for a in run.alerts.values() if a["receivers"]),
            "seconds": round(run.seconds, 3), "events_per_s": round(run.rate)}


def _natural(key: str) -> tuple[int, str]:
    head, _, tail = key.partition(" ")
    return (int(tail), "") if head == "event" and tail.isdigit() else (1 << 62, key)


def render_text(report: dict[str, Any]) -> str:
    """The diff for people: one block per (rule, change) with a few examples."""
    b, n = report["base"], report["new"]
    lines = [f"replayed {report['events']} events: base {b['version']} ({b['alerts']} alerts, "
             f"{b['created_suppressed']} suppressed, {b['notified']} notified) vs new {n['version']} "
             f"({n['alerts']} alerts, {n['created_suppressed']} suppressed, {n['notified']} notified); "
             f"{n['events_per_s']} events/s"]
    if not report["changed"]:
        lines.append("no difference")
    for g in report["differences"]:
        lines.append(f"{g['rule']}: {g['change']}: {g['count']} alert(s)")
        for ex in g["examples"]:
            lines.append(f"    {ex['alert']}: {_brief(ex['base'])}  ->  {_brief(ex['new'])}")
    return "\n".join(lines)


def _brief(a: dict[str, Any] | None) -> str:
    if a is None:
        return "(none)"
    parts = [f"{a['event']} on {a['resource']}" + (f"/{a['component']}" if a["component"] else ""),
             a["severity"], "suppressed" if a["created"] == "suppressed" else "active"]
    if a["suppressed_reason"]:
        parts.append(f"({a['suppressed_reason']})")
    if a["parent"]:
        parts.append(f"parent {a['parent']}")
    parts.append("receivers " + (",".join(a["receivers"]) or "none"))
    return " ".join(parts)


async def replay_diff(base: CompiledRuleSet, new: CompiledRuleSet, log: Sequence[LoggedEvent], *,
                      base_notify: Path | None = None, new_notify: Path | None = None,
                      graph: Callable[[], Graph] = Graph, inventory: Callable[[], Mapping[str, Any]] = dict,
                      processes: bool = True, **kw: Any) -> dict[str, Any]:
    """Replay ``log`` through both rule sets (each in its own private database, each with its own
    notification routing: a notify.yaml, or None for none) and diff them.

    ``processes``: the two replays run at the same time, each in a worker process of its own
    (spawned: nothing of this process is inherited; the event loop here stays free); without it,
    or when the inputs cannot be sent to a process, one after the other in this process. Both ways
    run the same code on the same inputs and give the same diff."""
    graph_now, inventory_now = graph(), inventory()
    workdir = Path(tempfile.mkdtemp(prefix="opsconductor-replay-"))
    try:
        jobs = _jobs(workdir, kw, (("base", base, base_notify), ("new", new, new_notify)))
        shared = (graph_now, inventory_now)
        if processes and log and _sendable(jobs, shared):  # (an empty log needs no worker)
            runs = await _in_processes(jobs, log, shared)
        else:
            runs = [await _run_job(job, log, compiled, *shared) for job, compiled in zip(jobs, (base, new),
                                                                                          strict=True)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return diff(runs[0], runs[1])


@dataclass(frozen=True)
class _Job:
    """One replay as a worker process gets it (picklable: the rules, not their compiled engine)."""

    ruleset: RuleSet
    notify: str | None  # a notify.yaml
    workdir: str
    options: dict[str, Any]


def _jobs(workdir: Path, options: dict[str, Any], sets: Sequence[tuple[str, CompiledRuleSet, Path | None]]
          ) -> list[_Job]:
    out = []
    for name, compiled, notify in sets:
        (workdir / name).mkdir()
        out.append(_Job(compiled.ruleset, str(notify) if notify is not None else None, str(workdir / name),
                        options))
    return out


async def _run_job(job: _Job, log: Sequence[LoggedEvent], compiled: CompiledRuleSet | None,
                   graph: Graph, inventory: Mapping[str, Any]) -> ReplayRun:
    from opsconductor.correlate.service import compile_ruleset
    from opsconductor.notify.config import load_config

    return await replay(compiled or compile_ruleset(job.ruleset), log, workdir=Path(job.workdir), graph=lambda: graph,
                        inventory=lambda: inventory,
                        notify=load_config(Path(job.notify)) if job.notify is not None else None, **job.options)


def _sendable(jobs: Sequence[_Job], shared: tuple[Graph, Mapping[str, Any]]) -> bool:
    try:
        pickle.dumps((jobs, shared))
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        logger.info("replay runs in this process (its inputs cannot go to a worker process: %s)", exc)
        return False
    return True


async def _in_processes(jobs: Sequence[_Job], events: Sequence[LoggedEvent],
                        shared: tuple[Graph, Mapping[str, Any]]) -> list[ReplayRun]:
    """Both replays at once, one spawned worker process each; the log is encoded once for both."""
    blob = _encode_log(events)
    loop = asyncio.get_running_loop()
    pool = ProcessPoolExecutor(max_workers=len(jobs), mp_context=multiprocessing.get_context("spawn"))
    try:
        return list(await asyncio.gather(*(loop.run_in_executor(pool, _worker, job, blob, *shared)
                                           for job in jobs)))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _encode_log(events: Sequence[LoggedEvent]) -> bytes:
    """The log for the worker processes: msgpack (the payloads are JSON values), else pickle."""
    try:
        return b"m" + msgspec.msgpack.encode([(e.received_at, e.payload) for e in events])
    except (TypeError, OverflowError, msgspec.EncodeError):
        return b"p" + pickle.dumps(list(events), protocol=pickle.HIGHEST_PROTOCOL)


def _decode_log(blob: bytes) -> list[LoggedEvent]:
    if blob[:1] == b"p":
        return list(pickle.loads(blob[1:]))  # our own bytes, from the parent process
    pairs = msgspec.msgpack.decode(blob[1:], type=list[tuple[datetime, dict[str, Any]]])
    return [LoggedEvent(at, payload) for at, payload in pairs]


def _worker(job: _Job, blob: bytes, graph: Graph, inventory: Mapping[str, Any]) -> ReplayRun:
    """A worker process's replay: it owns its event loop, so the engine's calls run inline too."""
    events = _decode_log(blob)
    gc.freeze()  # the modules and the log live to the end: never scanned by the collector again
    return asyncio.run(_worker_main(job, events, graph, inventory))


async def _worker_main(job: _Job, events: list[LoggedEvent], graph: Graph, inventory: Mapping[str, Any]
                       ) -> ReplayRun:
    await _template(Path(job.workdir))  # (migrations run in a thread: before the inline executor)
    asyncio.get_running_loop().set_default_executor(_InlineExecutor())
    return await _run_job(job, events, None, graph, inventory)


class _InlineExecutor(ThreadPoolExecutor):
    """``asyncio.to_thread`` in a worker process: the call runs at once (nothing else waits on
    this loop, so a hand-off to a thread would only cost a wake-up)."""

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        out: Future[_T] = Future()
        try:
            out.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            out.set_exception(exc)
        return out
