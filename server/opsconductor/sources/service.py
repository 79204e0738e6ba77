"""The sources stage as the server runs it: config, poller, leader election, reload.

:class:`SourcesService` loads the addons, the inventory file and the database targets,
and reconciles the poller's jobs whenever any of them changes (every
``poller_refresh_s``, or at once on ``POST /api/v1/poller/reload``). A bad manifest or
inventory is reported and the last good configuration stays in force.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from opsconductor.errors import ConfigError, ConfigErrors
from opsconductor.model.alert import OPEN_STATUSES
from opsconductor.sources.http import LINKS_SUFFIX
from opsconductor.sources.http_client import HttpClient
from opsconductor.sources.inventory import load_inventory
from opsconductor.sources.job import Clients
from opsconductor.sources.kinds import Registry, Target, default_registry
from opsconductor.sources.leader import LeaderElection
from opsconductor.sources.manifest import AddonSet, load_addons
from opsconductor.sources.ping_client import Pinger
from opsconductor.sources.poller import Poller, PollerMetrics
from opsconductor.sources.snmp_client import SnmpClient
from opsconductor.sources.ssh_client import SshClient
from opsconductor.sources.target_store import addon_states, list_targets, sync_links, sync_targets
from opsconductor.store.tables import Alert

if TYPE_CHECKING:
    from opsconductor.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class LoadReport:
    addons: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    targets: int = 0
    jobs: int = 0


class SourcesService:
    """The runtime's ``rt.sources``."""

    def __init__(self, rt: Runtime, registry: Registry | None = None):
        self.rt = rt
        self.settings = rt.settings
        self.registry = registry or default_registry()
        self.metrics = PollerMetrics(rt.metrics.registry)
        self.addons = AddonSet()
        self.inventory: list[Target] = []
        self.db_targets: list[Target] = []
        self.disabled: frozenset[str] = frozenset()
        self.errors: list[str] = []
        self.poller: Poller | None = None
        # Which process of several is the leader (poller, trap receiver, self-alerts); other stages watch it.
        self.election = LeaderElection(rt.settings.effective_database_url, retry_s=rt.settings.poller_leader_retry_s)
        self._lock = asyncio.Lock()
        self._stamp: tuple[tuple[str, int, int], ...] = ()
        self._file_errors: list[str] = []

    # -- config ---------------------------------------------------------------------------
    def _files_stamp(self) -> tuple[tuple[str, int, int], ...]:
        """Path, mtime and size of every config file the sources read (cheap to compute)."""
        paths = sorted(self.settings.addons_dir.glob("*/addon.y*ml")) if self.settings.addons_dir.is_dir() else []
        if self.settings.inventory_file is not None:
            paths.append(self.settings.inventory_file)
        stamp = []
        for p in paths:
            try:
                st = p.stat()
            except OSError:
                continue
            stamp.append((str(p), st.st_mtime_ns, st.st_size))
        return tuple(stamp)

    def _load_files(self, *, force: bool = True) -> tuple[list[str], bool]:
        """(errors, changed): re-parse addons and inventory, unless nothing changed on disk."""
        stamp = self._files_stamp()
        if not force and stamp == self._stamp:
            return self._file_errors, False
        self._stamp = stamp
        errors: list[str] = []
        loaded = load_addons(self.settings.addons_dir, self.registry)
        errors += [str(e) for e in loaded.errors]
        # A refused manifest keeps its last good version running.
        for name, m in self.addons.manifests.items():
            if name not in loaded.manifests and any(str(m.path) in str(e) for e in loaded.errors):
                loaded.manifests[name] = m
        self.addons = loaded
        try:
            self.inventory = load_inventory(self.settings.inventory_file)
        except ConfigErrors as exc:
            errors += [str(e) for e in exc.errors]
        except ConfigError as exc:
            errors.append(str(exc))
        self._file_errors = errors
        return errors, True

    def targets(self) -> list[Target]:
        """Inventory file first: a name there wins over the same name from the API or NetBox."""
        names = {t.name for t in self.inventory}
        return [*self.inventory, *(t for t in self.db_targets if t.name not in names)]

    async def current_targets(self) -> list[Target]:
        """Like :meth:`targets`, with the database read now (NetBox may have synced meanwhile)."""
        async with self.rt.db.read() as conn:
            db_targets = await list_targets(conn)
        names = {t.name for t in self.inventory}
        return [*self.inventory, *(t for t in db_targets if t.name not in names)]

    async def reload(self, *, force: bool = True) -> LoadReport:
        """Re-read config files (only if changed on disk, unless forced) and database targets."""
        async with self._lock:
            errors, changed = self._load_files(force=force)
            async with self.rt.db.read() as conn:
                self.db_targets = await list_targets(conn)
                states = await addon_states(conn)
            self.disabled = frozenset(n for n, on in states.items() if not on)
            self.errors = errors
            if changed:
                for e in errors:
                    log.error("sources config: %s", e)
            if self.poller is not None:
                self.poller.configure(self.addons.manifests, self.targets(), self.disabled)
            return LoadReport(sorted(self.addons.manifests), errors, len(self.targets()),
                              len(self.poller.status()) if self.poller else 0)

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self, rt: Runtime) -> None:
        s = self.settings
        clients = Clients(
            snmp=SnmpClient(concurrency=s.snmp_concurrency),
            ssh=SshClient(sessions_per_device=s.ssh_sessions_per_device, known_hosts=s.ssh_known_hosts),
            http=HttpClient(concurrency=s.http_concurrency),
            ping=Pinger(),
        )
        self.poller = Poller(registry=self.registry, clients=clients, emit=self.emit, metrics=self.metrics,
                             max_backoff_s=s.poller_max_backoff_s, sync=self.sync_inventory,
                             open_conditions=self.open_conditions, credentials_dir=s.effective_credentials_dir)
        await self.reload()
        # The election runs even without the poller: the leader also runs the trap receiver and
        # raises the self-alerts (one process of several workers does each).
        self.election.watch(self._gain, self._lose)
        await self.election.try_now()
        rt.spawn(self.election.run, "leader-election")
        if s.poller_enabled:
            rt.spawn(self._refresh_loop, "sources-refresh")

    async def stop(self, rt: Runtime) -> None:
        if self.poller is not None:
            self.poller.stop()
            await self.poller.clients.close()

    async def _gain(self) -> None:
        if self.poller is not None and self.settings.poller_enabled:
            self.poller.start()

    async def _lose(self) -> None:
        if self.poller is not None:
            self.poller.stop()

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.poller_refresh_s)
            try:
                await self.reload(force=False)
            except Exception:
                log.exception("sources reload failed; the previous configuration stays in force")

    # -- results --------------------------------------------------------------------------
    async def emit(self, events: Sequence[Any]) -> None:
        await self.rt.pipeline.accept(events)

    async def open_conditions(self) -> frozenset[tuple[str, str, str]]:
        """(resource, event, component) of every open alert: what polls reconcile against."""
        a = Alert.__table__  # type: ignore[attr-defined]
        async with self.rt.db.read() as conn:
            rows = (await conn.execute(select(a.c.resource, a.c.event, a.c.component)
                                       .where(a.c.status.in_([st.value for st in OPEN_STATUSES])))).all()
        return frozenset((r.resource, r.event, r.component or "") for r in rows)

    async def sync_inventory(self, origin: str, targets: Sequence[dict[str, Any]]) -> tuple[int, int, int]:
        """Targets discovered by an addon (NetBox) replace that addon's previous ones; links (NetBox
        cables, origin ``<addon>:links``) set the depends_on of that addon's targets."""
        if origin.endswith(LINKS_SUFFIX):
            async with self.rt.db.write() as conn:
                changed = await sync_links(conn, origin[: -len(LINKS_SUFFIX)], targets, datetime.now(UTC))
            if changed:
                log.info("topology sync from %s: depends_on of %d targets changed", origin, changed)
                await self.reload()
            return 0, changed, 0
        async with self.rt.db.write() as conn:
            counts = await sync_targets(conn, origin, targets, datetime.now(UTC))
        if any(counts):
            log.info("inventory sync from %s: %d created, %d updated, %d deleted", origin, *counts)
            await self.reload()
        return counts

    @property
    def is_leader(self) -> bool:
        """This process is the leader: it polls, receives traps, raises self-alerts."""
        return self.election.leader


def install(rt: Runtime) -> None:
    svc = SourcesService(rt)
    rt.sources = svc
    rt.on_start(svc.start)
    rt.on_stop(svc.stop)
