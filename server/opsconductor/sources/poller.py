"""The unified poller: one APScheduler job per (target, addon, source).

Jobs use an interval trigger with jitter, ``max_instances=1`` and ``coalesce`` so a
slow poll never stacks up and a late one never runs twice. Every job does the same:
``collect`` (the kind's protocol work) -> field transforms -> event rules -> the
unreachable event -> ``emit`` (``pipeline.accept``). Per (target, protocol) state keeps
an exponential backoff so a dead device costs little and never delays the others.

The poll is the truth for what it polls (reconciliation, docs/addons.md): conditions it
sees are re-asserted every poll, and a collection that fails is an alert of its own
(``collection_<failure>`` per target and source, or the manifest's ``on_unreachable``),
re-asserted while it fails and cleared by the first poll that works.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from opsconductor.errors import SourceError
from opsconductor.model.event import NormalizedEvent
from opsconductor.normalize.metrics import apply_metrics
from opsconductor.normalize.records import Context, evaluate, transform
from opsconductor.sources.failures import OpenKey, failure_cleared, failure_kind, failure_raised
from opsconductor.sources.job import Clients, PolledKind, PollJob
from opsconductor.sources.kinds import Registry, Target
from opsconductor.sources.manifest import Manifest

log = logging.getLogger(__name__)

Emit = Callable[[Sequence[NormalizedEvent]], Awaitable[Any]]
OpenConditions = Callable[[], Awaitable[Collection[OpenKey]]]

class PollerMetrics:
    """Polls, failures and latency per protocol; registered on the server's registry."""

    def __init__(self, registry: CollectorRegistry):
        self.polls = Counter("opsconductor_polls", "Polls run", ["protocol", "outcome"], registry=registry)
        self.failures = Counter("opsconductor_poll_failures", "Polls that failed", ["protocol", "reason"],
                                registry=registry)
        self.latency = Histogram("opsconductor_poll_duration_seconds", "Poll duration", ["protocol"],
                                 buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
                                 registry=registry)
        self.jobs = Gauge("opsconductor_poller_jobs", "Scheduled poll jobs", registry=registry)
        self.missed = Counter("opsconductor_poller_missed_runs", "Runs skipped: late or still running",
                              ["reason"], registry=registry)
        self.leader = Gauge("opsconductor_poller_leader", "1 when this process runs the poller",
                            registry=registry)


@dataclass
class JobStatus:
    target: str
    addon: str
    source: str
    kind: str
    interval: float
    runs: int = 0
    failures: int = 0
    events: int = 0
    skipped: int = 0
    last_run: datetime | None = None
    last_ok: datetime | None = None
    last_duration_s: float | None = None
    last_error: str | None = None


@dataclass
class Backoff:
    failures: int = 0
    until: float = 0.0  # monotonic time before which polls are skipped


@dataclass
class _Job:
    poll: PollJob
    kind: PolledKind
    interval: float
    status: JobStatus
    signature: tuple[Any, ...] = field(default_factory=tuple)


def interval_for(target: Target, addon: str, source: str, default: float) -> float:
    return float(target.intervals.get(f"{addon}/{source}", target.intervals.get(addon, default)))


class Poller:
    """Owns the scheduler and the job table; :meth:`configure` reconciles jobs with the config."""

    def __init__(self, *, registry: Registry, clients: Clients, emit: Emit, metrics: PollerMetrics,
                 environ: Mapping[str, str] | None = None, max_backoff_s: float = 300.0,
                 jitter_fraction: float = 0.1,
                 sync: Callable[[str, list[dict[str, Any]]], Awaitable[Any]] | None = None,
                 open_conditions: OpenConditions | None = None, open_refresh_s: float = 5.0,
                 credentials_dir: Path | None = None):
        self.registry = registry
        self.clients = clients
        self.emit = emit
        self.metrics = metrics
        self.environ = environ
        self.max_backoff_s = max_backoff_s
        self.jitter_fraction = jitter_fraction
        self.sync = sync
        self.credentials_dir = credentials_dir
        # What the alert table has open, refreshed at most every open_refresh_s: a condition a
        # poll sees clear is cleared again when it is still open there (a trap opened it).
        self.open_conditions = open_conditions
        self.open_refresh_s = open_refresh_s
        self._open: Collection[OpenKey] = frozenset()
        self._open_at = -1e9
        self._open_lock = asyncio.Lock()
        self._jobs: dict[str, _Job] = {}
        self._backoff: dict[tuple[str, str], Backoff] = {}
        self._scheduler: AsyncIOScheduler | None = None

    # -- configuration -----------------------------------------------------------------
    def desired(self, manifests: Mapping[str, Manifest], targets: Sequence[Target],
                disabled: frozenset[str] = frozenset()) -> dict[str, tuple[Target, Manifest, Any, float]]:
        out: dict[str, tuple[Target, Manifest, Any, float]] = {}
        for t in targets:
            if not t.enabled:
                continue
            for m in manifests.values():
                if m.name in disabled or not m.applies_to(t):
                    continue
                for s in m.sources:
                    kind = self.registry.get(s.kind)
                    if kind is None or not kind.polled:
                        continue
                    out[f"{t.name}/{m.name}/{s.name}"] = (t, m, s.spec, interval_for(t, m.name, s.name,
                                                                                     s.spec.common.interval))
        return out

    def configure(self, manifests: Mapping[str, Manifest], targets: Sequence[Target],
                  disabled: frozenset[str] = frozenset()) -> None:
        want = self.desired(manifests, targets, disabled)
        for key in [k for k in self._jobs if k not in want]:
            self._remove(key)
        for key, (target, manifest, spec, interval) in want.items():
            signature = (target, manifest.digest, interval)
            old = self._jobs.get(key)
            if old is not None and old.signature == signature:
                continue
            kind = self.registry.get(spec.common.kind)
            # Change detection survives a reload unless the manifest itself changed.
            state = old.poll.state if old is not None and old.signature[1] == manifest.digest else {}
            status = old.status if old is not None else JobStatus(target.name, manifest.name, spec.common.name,
                                                                  spec.common.kind, interval)
            status.interval = interval
            job = _Job(PollJob(target, manifest.name, spec, self.clients, self.environ, state, self.sync,
                               credentials_dir=self.credentials_dir),
                       kind, interval, status, signature)  # type: ignore[arg-type]
            self._jobs[key] = job
            self._schedule(key, job)
        self.metrics.jobs.set(len(self._jobs))

    def _schedule(self, key: str, job: _Job) -> None:
        if self._scheduler is None:
            return
        first = datetime.now(UTC) + timedelta(seconds=random.uniform(0, min(job.interval, 5.0)))
        self._scheduler.add_job(
            self.run, "interval", args=[key], id=key, name=key, seconds=job.interval,
            jitter=min(job.interval * self.jitter_fraction, 5.0), max_instances=1, coalesce=True,
            misfire_grace_time=max(1, int(job.interval)), next_run_time=first, replace_existing=True,
        )

    def _remove(self, key: str) -> None:
        self._jobs.pop(key, None)
        if self._scheduler is not None and self._scheduler.get_job(key) is not None:
            self._scheduler.remove_job(key)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        if self._scheduler is not None:
            return
        # APScheduler logs every run at INFO: at thousands of polls a minute that drowns the log.
        logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
        self._scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={"max_instances": 1, "coalesce": True})
        self._scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        self._scheduler.start()
        for key, job in self._jobs.items():
            self._schedule(key, job)
        self.metrics.leader.set(1)

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        self.metrics.leader.set(0)

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    def _on_missed(self, event: JobExecutionEvent) -> None:
        reason = "late" if event.code == EVENT_JOB_MISSED else "still_running"
        self.metrics.missed.labels(reason=reason).inc()
        job = self._jobs.get(event.job_id)
        if job is not None:
            job.status.skipped += 1

    # -- one poll ------------------------------------------------------------------------------
    async def run(self, key: str) -> list[NormalizedEvent]:
        job = self._jobs.get(key)
        if job is None:
            return []
        poll, common, status = job.poll, job.poll.common, job.status
        bkey = (poll.target.name, common.kind)
        backoff = self._backoff.setdefault(bkey, Backoff())
        if time.monotonic() < backoff.until:
            status.skipped += 1
            self.metrics.polls.labels(common.kind, "backoff").inc()
            return []
        now = datetime.now(UTC)
        status.runs += 1
        status.last_run = now
        started = time.perf_counter()
        events: list[NormalizedEvent] = []
        outcome = "ok"
        poll.suspect = backoff.failures > 0
        before = dict(poll.state)  # restored if the events cannot be stored, so no change is lost
        failure: BaseException | None = None
        try:
            # A safety net only: the clients time out per request, and time spent queueing for
            # a client slot must not make a healthy device look unreachable.
            async with asyncio.timeout(common.timeout * 3 + 5.0):
                records = await job.kind.collect(poll)
            ctx = Context(_target_view(poll.target), f"{poll.addon}/{common.name}", now)
            open_keys = await self._open_keys()
            records = apply_metrics(records, common.fields, poll.state, time.monotonic(),
                                    getattr(poll.spec, "index", None))
            events = evaluate(common.events, transform(records, common.fields), ctx, poll.state, open_keys)
            events += failure_cleared(poll, now, open_keys)
            backoff.failures, backoff.until = 0, 0.0
            status.last_ok, status.last_error = now, None
        except TimeoutError as exc:
            failure = exc
            status.last_error = f"poll did not finish within {common.timeout * 3 + 5.0:g}s (poller overloaded?)"
        except asyncio.CancelledError:
            if self._scheduler is None:  # shutting down: not a failure of the target
                return []
            raise
        except SourceError as exc:
            failure = exc
            status.last_error = str(exc)
            self._back_off(backoff, job.interval)
        except Exception as exc:  # a bug in a kind must not kill the scheduler
            failure = exc
            status.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("poll %s failed", key)
        if failure is not None:
            kind = failure_kind(failure)
            outcome = {"unreachable": "unreachable", "timeout": "overloaded"}.get(kind, "error")
            events += failure_raised(poll, now, kind, status.last_error or kind)
        elapsed = time.perf_counter() - started
        status.last_duration_s = elapsed
        self.metrics.latency.labels(common.kind).observe(elapsed)
        self.metrics.polls.labels(common.kind, outcome).inc()
        if outcome != "ok":
            status.failures += 1
            self.metrics.failures.labels(common.kind, outcome).inc()
            log.info("poll %s: %s", key, status.last_error)
        if events:
            status.events += len(events)
            try:
                await self.emit(events)
            except Exception as exc:
                # Forget what this poll saw: the next poll detects the same changes again.
                poll.state.clear()
                poll.state.update(before)
                status.last_error = f"events not accepted: {exc}"
                log.warning("poll %s: %d events not accepted (retried next poll): %s", key, len(events), exc)
        return events

    def _back_off(self, b: Backoff, interval: float) -> None:
        b.failures += 1
        # 1st failure: poll again at the next interval; then every other interval at most, as a
        # probe (clients put suspect targets in their slow lane, SNMP without retries), so a
        # device that comes back shows within two intervals; max_backoff_s may shorten it.
        delay = min(interval * (2 ** (b.failures - 1)) - interval * 0.5, interval * 1.5, self.max_backoff_s)
        b.until = time.monotonic() + max(0.0, delay)

    async def _open_keys(self) -> Collection[OpenKey]:
        if self.open_conditions is None:
            return ()
        if time.monotonic() - self._open_at >= self.open_refresh_s:
            async with self._open_lock:  # one query for every poll that needs it now
                if time.monotonic() - self._open_at >= self.open_refresh_s:
                    try:
                        self._open = await self.open_conditions()
                    except Exception as exc:  # the store's own health is reported by the store
                        log.debug("open conditions not read: %s", exc)
                    self._open_at = time.monotonic()
        return self._open

    # -- status ------------------------------------------------------------------------------
    def status(self) -> list[dict[str, Any]]:
        out = []
        for key, job in sorted(self._jobs.items()):
            s = job.status
            nxt = None
            if self._scheduler is not None:
                aj = self._scheduler.get_job(key)
                nxt = aj.next_run_time if aj is not None else None
            out.append({
                "id": key, "target": s.target, "addon": s.addon, "source": s.source, "kind": s.kind,
                "interval_s": s.interval, "runs": s.runs, "failures": s.failures, "events": s.events,
                "skipped": s.skipped,
                "last_run": s.last_run.isoformat() if s.last_run else None,
                "last_ok": s.last_ok.isoformat() if s.last_ok else None,
                "last_duration_s": s.last_duration_s, "last_error": s.last_error,
                "next_run": nxt.isoformat() if nxt else None,
            })
        return out


def _target_view(t: Target) -> dict[str, Any]:
    """What templates may see of a target: never its credential references."""
    return {"name": t.name, "address": t.address, "port": t.port, "labels": dict(t.labels)}
