"""The trap receiver as the server runs it: settings -> credentials -> receiver -> pipeline.

Starts when ``trap_enabled`` and an enabled addon has an ``snmp_trap`` source (checked at
start and on every sources refresh, so installing the addon later starts it too), in the
leader process only (``sources/leader.py``): of several ``serve --workers`` processes one
binds the port, and another takes over when it dies. The
receiver runs in its own process (:mod:`snmp_trap_process`), which translates each batch
with the enabled addons' rules and the inventory's targets by address, which this service
keeps current, and appends the events to the event log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from opsconductor.config.settings import Settings
from opsconductor.errors import ConfigError
from opsconductor.sources.credentials import CredentialError, resolve
from opsconductor.sources.snmp_trap import TrapSpec
from opsconductor.sources.snmp_trap_process import ReceiverProcess
from opsconductor.sources.snmp_trap_receiver import TrapAuth, V3User
from opsconductor.sources.snmp_usm import AUTH_PROTOCOLS, PRIV_PROTOCOLS
from opsconductor.sources.webhook_catalog import PushCatalog

if TYPE_CHECKING:
    from opsconductor.runtime import Runtime

log = logging.getLogger(__name__)


def _engine_id(text: str, where: str) -> bytes:
    hexdigits = text.strip().removeprefix("0x").removeprefix("0X").replace(":", "")
    try:
        value = bytes.fromhex(hexdigits)
    except ValueError:
        raise ConfigError(f"{where}: engine ID must be hex, e.g. 0x8000000001020304") from None
    if not 5 <= len(value) <= 32:
        raise ConfigError(f"{where}: engine ID must be 5..32 octets (RFC 3411), got {len(value)}")
    return value


def trap_auth_from_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> TrapAuth:
    """Resolve the trap credentials now; errors name the setting and reference, never a secret."""
    communities: list[bytes] = []
    for i, ref in enumerate(settings.trap_communities):
        try:
            communities.append(resolve(ref, environ, settings.effective_credentials_dir).value().encode())
        except CredentialError as exc:
            raise ConfigError(f"trap_communities[{i}]: {exc}") from None
    users: list[V3User] = []
    for i, ref in enumerate(settings.trap_v3_users):
        where = f"trap_v3_users[{i}] ({ref})"
        try:
            secret = resolve(ref, environ, settings.effective_credentials_dir)
        except CredentialError as exc:
            raise ConfigError(f"trap_v3_users[{i}]: {exc}") from None
        if not secret.has_parts():
            raise ConfigError(f"{where}: must be a JSON object with user, auth_protocol, auth_key, "
                              "priv_protocol, priv_key, engine_ids")
        name = secret.part("user") or ""
        auth = (secret.part("auth_protocol") or "sha").lower()
        priv = (secret.part("priv_protocol") or "aes").lower()
        auth_key, priv_key = secret.part("auth_key") or "", secret.part("priv_key")
        if not name:
            raise ConfigError(f"{where}: 'user' is missing")
        if auth not in AUTH_PROTOCOLS:
            raise ConfigError(f"{where}: auth_protocol must be one of {sorted(AUTH_PROTOCOLS)}")
        if priv != "none" and priv not in PRIV_PROTOCOLS:
            raise ConfigError(f"{where}: priv_protocol must be 'none' or one of {sorted(PRIV_PROTOCOLS)}")
        if len(auth_key) < 8 or (priv != "none" and len(priv_key or "") < 8):
            raise ConfigError(f"{where}: auth_key and priv_key need at least 8 characters (RFC 3414)")
        engine_ids = tuple(_engine_id(e, where) for e in (secret.part("engine_ids") or "").split(",") if e.strip())
        users.append(V3User(name, auth, auth_key, None if priv == "none" else priv,
                            None if priv == "none" else priv_key, engine_ids))
    engine_id = _engine_id(settings.trap_engine_id, "trap_engine_id") if settings.trap_engine_id else None
    return TrapAuth(tuple(communities), tuple(users), engine_id)


def inventory_targets(service: Callable[[], Any]) -> Callable[[], dict[str, dict[str, Any]]]:
    """The inventory's targets by address (as templates see them), as the sources service has them now."""

    def snapshot() -> dict[str, dict[str, Any]]:
        svc = service()
        targets = svc.targets() if svc is not None and hasattr(svc, "targets") else []
        return {t.address: {"name": t.name, "address": t.address, "port": t.port, "labels": dict(t.labels)}
                for t in targets}

    return snapshot


class TrapService:
    """The runtime's ``rt.snmp_traps``: runs and configures the receiver process."""

    def __init__(self, rt: Runtime, catalog: PushCatalog, metrics: Any,
                 targets: Callable[[], dict[str, dict[str, Any]]] | None = None):
        self.rt = rt
        self.catalog = catalog
        self.metrics = metrics
        self.targets = targets or inventory_targets(lambda: rt.sources)
        self.receiver: ReceiverProcess | None = None
        self.error: str | None = None
        self._starting = asyncio.Lock()

    async def ensure_started(self) -> None:
        """Start the receiver if enabled, some addon maps traps and this process is the leader (stop it
        if this process no longer is); a failure is reported, not raised."""
        async with self._starting:  # the watch loop and a leadership change may ask at once
            await self._ensure_started()

    async def _ensure_started(self) -> None:
        s = self.rt.settings
        if not self.is_leader:
            await self._stop_receiver()
            self.error = None  # not this process's job: /readyz and the self-monitor ask the leader
            return
        paths = self.catalog.manifest_paths(TrapSpec)
        if self.receiver is not None:
            self.receiver.configure(paths, self.targets())
            return
        if not s.trap_enabled or not paths:
            return
        try:
            auth = trap_auth_from_settings(s)
        except ConfigError as exc:
            if self.error != str(exc):
                log.error("SNMP trap receiver not started: %s", exc)
            self.error = str(exc)
            return
        if not auth.communities and not auth.users:
            log.warning("SNMP trap receiver: no trap_communities or trap_v3_users configured; every trap "
                        "will be refused")
        proc = ReceiverProcess(host=s.trap_host, port=s.trap_port, auth=auth, batch_window=s.trap_batch_ms / 1000,
                               database_url=s.effective_database_url, on_report=self._report, on_exit=self._exited)
        try:
            await proc.start()
        except OSError as exc:
            message = f"cannot listen on udp {s.trap_host}:{s.trap_port}: {exc.strerror}"
            if self.error != message:
                log.error("SNMP trap receiver not started: %s", message)
            self.error = message
            return
        proc.configure(paths, self.targets())
        self.receiver, self.error = proc, None
        assert proc.bound is not None
        log.info("SNMP trap receiver listening on udp %s:%d", *proc.bound)

    def _report(self, by_source: dict[str, int], counts: dict[str, int], errors: list[str]) -> None:
        for source, n in by_source.items():
            self.rt.metrics.events_received.labels(source=source or "snmp_trap").inc(n)
        if by_source:
            self.rt.pipeline.wake()  # the child appended them to the log; process now, not at the next poll
        for outcome, n in counts.items():
            if n:
                self.metrics.traps.labels(outcome=outcome).inc(n)
        for line in errors:
            log.warning("trap not mapped to an event: %s", line)

    def _exited(self) -> None:
        self.receiver = None  # the watcher starts a new one
        self.error = "the receiver process exited"

    @property
    def is_leader(self) -> bool:
        """Only the leader process receives traps (a runtime without the sources stage is alone)."""
        return self.rt.sources is None or self.rt.sources.is_leader

    async def start(self, rt: Runtime) -> None:
        if rt.sources is not None:  # start and stop with the leadership, not at the next watch
            rt.sources.election.watch(self.ensure_started, self.ensure_started)
        await self.ensure_started()
        rt.spawn(self._watch, "snmp-trap-watch")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, self.rt.settings.poller_refresh_s))
            await self.ensure_started()

    async def stop(self, rt: Runtime) -> None:
        await self._stop_receiver()

    async def _stop_receiver(self) -> None:
        if self.receiver is not None:
            receiver, self.receiver = self.receiver, None
            await receiver.stop()
