"""The trap receiver as the server runs it: settings -> credentials -> receiver -> pipeline.

Starts when ``trap_enabled`` and an enabled addon has an ``snmp_trap`` source (checked at
start and on every sources refresh, so installing the addon later starts it too). Each
batch of traps is translated with the current addons' rules (:func:`traps_to_events`);
the agent's address is looked up in the inventory to name the resource.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from opsconductor.config.settings import Settings
from opsconductor.errors import ConfigError
from opsconductor.sources.credentials import CredentialError, resolve
from opsconductor.sources.snmp_trap import ReceivedTrap, TrapSpec, TrapTable, traps_to_events
from opsconductor.sources.snmp_trap_receiver import AUTH_PROTOCOLS, PRIV_PROTOCOLS, TrapAuth, TrapReceiver, V3User
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
            communities.append(resolve(ref, environ).value().encode())
        except CredentialError as exc:
            raise ConfigError(f"trap_communities[{i}]: {exc}") from None
    users: list[V3User] = []
    for i, ref in enumerate(settings.trap_v3_users):
        where = f"trap_v3_users[{i}] ({ref})"
        try:
            secret = resolve(ref, environ)
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


def inventory_names(components: Mapping[str, Any]) -> Callable[[], Callable[[str], str | None]]:
    """Per batch: a lookup from an agent address to its inventory target name."""

    def snapshot() -> Callable[[str], str | None]:
        svc = components.get("sources")
        targets = svc.targets() if svc is not None and hasattr(svc, "targets") else []
        by_address = {t.address: t.name for t in targets}
        return by_address.get

    return snapshot


class TrapService:
    """Registered as ``rt.components["snmp_traps"]``."""

    def __init__(self, rt: Runtime, catalog: PushCatalog, metrics: Any,
                 names: Callable[[], Callable[[str], str | None]] | None = None):
        self.rt = rt
        self.catalog = catalog
        self.metrics = metrics
        self.names = names or inventory_names(rt.components)
        self.receiver: TrapReceiver | None = None
        self.error: str | None = None
        self._table: TrapTable | None = None
        self._generation = -1

    def table(self) -> TrapTable:
        generation = self.catalog.generation
        if self._table is None or generation != self._generation:
            self._table = TrapTable.build(self.catalog.specs(TrapSpec))
            self._generation = generation
        return self._table

    async def handle(self, batch: list[ReceivedTrap]) -> None:
        """Translate and store one batch (the receiver's sink)."""
        events, stats = traps_to_events(batch, self.table(), self.names())
        for line in stats.errors:
            log.warning("trap not mapped to an event: %s", line)
        if events:
            await self.rt.pipeline.accept(events)
        m = self.metrics
        m.traps.labels(outcome="accepted").inc(len(events))
        m.traps.labels(outcome="unmapped").inc(stats.unmapped)
        m.traps.labels(outcome="invalid").inc(stats.invalid)

    async def ensure_started(self) -> None:
        """Start the receiver if enabled and some addon maps traps; a failure is reported, not raised."""
        s = self.rt.settings
        if self.receiver is not None or not s.trap_enabled or not self.catalog.specs(TrapSpec):
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
        receiver = TrapReceiver(host=s.trap_host, port=s.trap_port, auth=auth, sink=self.handle,
                                batch_window=s.trap_batch_ms / 1000,
                                on_drop=lambda reason: self.metrics.traps.labels(outcome=reason).inc())
        try:
            await receiver.start()
        except OSError as exc:
            message = f"cannot listen on udp {s.trap_host}:{s.trap_port}: {exc.strerror}"
            if self.error != message:
                log.error("SNMP trap receiver not started: %s", message)
            self.error = message
            return
        self.receiver, self.error = receiver, None

    async def start(self, rt: Runtime) -> None:
        await self.ensure_started()
        rt.spawn(self._watch, "snmp-trap-watch")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, self.rt.settings.poller_refresh_s))
            await self.ensure_started()

    async def stop(self, rt: Runtime) -> None:
        if self.receiver is not None:
            await self.receiver.stop()
            self.receiver = None
