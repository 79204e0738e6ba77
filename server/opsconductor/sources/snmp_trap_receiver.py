"""The SNMP notification receiver: one UDP socket, one pysnmp engine, batched hand-off.

- SNMPv2c traps (the bulk of real trap traffic) are decoded by the fast BER reader in
  :mod:`snmp_trap_ber` right in the datagram callback; their community is checked against
  the configured ones.
- Everything else — SNMPv1 traps, informs (v2c and v3, which must be acknowledged) and
  SNMPv3 traps (USM authentication and privacy) — goes to pysnmp's NotificationReceiver
  (v3arch asyncio), which answers informs and drops what fails authentication.

Both paths produce :class:`ReceivedTrap` objects that are collected for ``batch_window``
seconds and handed to ``sink`` in one call, so storing them costs one transaction per
batch instead of one per trap. The socket gets a large receive buffer so bursts queue
in the kernel while a batch is being stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.proto.api import v2c

from opsconductor.sources.snmp_trap import SNMP_TRAP_OID, SYS_UPTIME, ReceivedTrap
from opsconductor.sources.snmp_trap_ber import BerError, decode_v2c_trap
from opsconductor.sources.snmp_usm import AUTH_PROTOCOLS, PRIV_PROTOCOLS

log = logging.getLogger(__name__)

SNMP_TRAP_COMMUNITY = "1.3.6.1.6.3.18.1.4.0"  # snmpTrapCommunity.0 (RFC 3584): a secret, never kept
RECEIVE_BUFFER = 4 * 1024 * 1024
_INFORM_TAG = v2c.InformRequestPDU.tagSet

@dataclass(frozen=True)
class V3User:
    """An SNMPv3 USM user allowed to send traps/informs. ``repr`` never shows the keys."""

    name: str
    auth_protocol: str = "sha"
    auth_key: str = field(default="", repr=False)
    priv_protocol: str | None = "aes"
    priv_key: str | None = field(default=None, repr=False)
    engine_ids: tuple[bytes, ...] = ()  # senders' engine IDs, needed for (unacknowledged) v3 traps


@dataclass(frozen=True)
class TrapAuth:
    """Who may send: v1/v2c communities and v3 users; ``repr`` never shows communities."""

    communities: tuple[bytes, ...] = field(default=(), repr=False)
    users: tuple[V3User, ...] = ()
    engine_id: bytes | None = None


@dataclass
class ReceiverStats:
    received: int = 0
    fast: int = 0
    bad_community: int = 0
    v3_auth_failure: int = 0
    malformed: int = 0
    overflow: int = 0


class _FastPathTransport(udp.UdpAsyncioTransport):  # type: ignore[misc]
    """pysnmp's UDP transport with a first look at every datagram (the v2c trap fast path)."""

    def __init__(self, fast: Callable[[bytes, Any], bool], **kwargs: Any):
        super().__init__(**kwargs)
        self._fast = fast

    def datagram_received(self, datagram: bytes, transportAddress: Any) -> None:
        if not self._fast(datagram, transportAddress):
            super().datagram_received(datagram, transportAddress)


class _FastPathTransport6(udp6.Udp6AsyncioTransport):  # type: ignore[misc]
    def __init__(self, fast: Callable[[bytes, Any], bool], **kwargs: Any):
        super().__init__(**kwargs)
        self._fast = fast

    def datagram_received(self, datagram: bytes, transportAddress: Any) -> None:
        if not self._fast(datagram, transportAddress):
            super().datagram_received(datagram, transportAddress)


def _plain(value: Any) -> Any:
    """A pysnmp value as the same plain Python the fast path produces."""
    if isinstance(value, v2c.IpAddress):
        return socket.inet_ntoa(value.asOctets())
    if isinstance(value, v2c.ObjectIdentifier):
        return str(value)
    if isinstance(value, (v2c.OctetString, v2c.Opaque)):
        return value.asOctets()
    if isinstance(value, v2c.Null) or not value.isValue:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return value.prettyPrint()


def split_varbinds(varbinds: Sequence[tuple[str, Any]]) -> tuple[str, int | None, tuple[tuple[str, Any], ...]]:
    """(snmpTrapOID, sysUpTime, the other varbinds), dropping snmpTrapCommunity.0."""
    trap_oid, uptime, rest = "", None, []
    for oid, value in varbinds:
        if oid == SNMP_TRAP_OID:
            trap_oid = str(value)
        elif oid == SYS_UPTIME:
            uptime = value if isinstance(value, int) else None
        elif oid != SNMP_TRAP_COMMUNITY:
            rest.append((oid, value))
    return trap_oid, uptime, tuple(rest)


class TrapReceiver:
    """Receives notifications on ``host:port`` and hands batches of ReceivedTrap to ``sink``."""

    def __init__(self, *, host: str, port: int, auth: TrapAuth,
                 sink: Callable[[list[ReceivedTrap]], Awaitable[None]], batch_window: float = 0.02,
                 max_pending: int = 200_000, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 on_drop: Callable[[str], None] = lambda _reason: None):
        self.host = host
        self.port = port
        self.auth = auth
        self.sink = sink
        self.batch_window = batch_window
        self.max_pending = max_pending
        self.clock = clock
        self.on_drop = on_drop  # "bad_community" | "v3_auth_failure" | "malformed" | "overflow" (a metric)
        self.stats = ReceiverStats()
        self._failure_logged: dict[str, float] = {}  # sender -> when its last auth failure was logged
        self._communities = frozenset(auth.communities)
        self._pending: list[ReceivedTrap] = []
        self._oid_cache: dict[bytes, str] = {}
        self._wake = asyncio.Event()
        self._engine: engine.SnmpEngine | None = None
        self._flusher: asyncio.Task[None] | None = None
        self.bound: tuple[str, int] | None = None

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Bind the socket (OSError if the port is taken or privileged) and start receiving."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self.bound = sock.getsockname()[:2]
        eng = self._build_engine()
        if family == socket.AF_INET6:
            transport: Any = _FastPathTransport6(self._fast_path).open_server_mode(sock=sock)
            config.add_transport(eng, (*udp6.DOMAIN_NAME, 1), transport)
        else:
            transport = _FastPathTransport(self._fast_path).open_server_mode(sock=sock)
            config.add_transport(eng, (*udp.DOMAIN_NAME, 1), transport)
        ntfrcv.NotificationReceiver(eng, self._from_pysnmp)
        self._engine = eng
        self._flusher = asyncio.create_task(self._flush_loop(), name="snmp-trap-flush")
        await asyncio.sleep(0)  # let the datagram endpoint come up
        log.info("SNMP trap receiver listening on %s:%d (udp)", *self.bound)

    def _build_engine(self) -> engine.SnmpEngine:
        kwargs: dict[str, Any] = {}
        if self.auth.engine_id:
            kwargs["snmpEngineID"] = v2c.OctetString(self.auth.engine_id)
        eng = engine.SnmpEngine(**kwargs)
        for i, community in enumerate(self.auth.communities):
            config.add_v1_system(eng, f"community-{i}", community)
        for user in self.auth.users:
            kw: dict[str, Any] = {"authProtocol": AUTH_PROTOCOLS[user.auth_protocol], "authKey": user.auth_key}
            if user.priv_protocol:
                kw.update(privProtocol=PRIV_PROTOCOLS[user.priv_protocol], privKey=user.priv_key)
            config.add_v3_user(eng, user.name, **kw)  # informs: we are the authoritative engine
            for engine_id in user.engine_ids:  # traps: the sender is authoritative
                config.add_v3_user(eng, user.name, securityEngineId=v2c.OctetString(engine_id), **kw)
        eng.observer.register_observer(self._security_failed, "rfc3412.prepareDataElements:sm-failure")
        return eng

    def _security_failed(self, eng: Any, point: str, info: Mapping[str, Any], cb_ctx: Any) -> None:
        """pysnmp dropped a message it could not authenticate: counted, and logged once a minute per
        sender with pysnmp's reason (wrong digest, unknown user...), never a key or community."""
        v3 = int(info.get("securityModel") or 0) == 3
        self._drop("v3_auth_failure" if v3 else "bad_community")
        address = str(next(iter(info.get("transportAddress") or ("?",))))
        now = time.monotonic()
        if now - self._failure_logged.get(address, -1e9) >= 60.0:
            self._failure_logged[address] = now
            if len(self._failure_logged) > 10_000:
                self._failure_logged.clear()
            status = info.get("statusInformation") or {}
            reason = status.get("errorIndication") if hasattr(status, "get") else None
            log.warning("SNMP%s trap from %s dropped: %s", "v3" if v3 else "v1/v2c", address,
                        reason or "authentication failed")

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        if self._engine is not None:
            self._engine.close_dispatcher()
            self._engine = None
        if self._pending:
            batch, self._pending = self._pending, []
            with contextlib.suppress(Exception):
                await self.sink(batch)

    # -- receiving ------------------------------------------------------------------------
    def _enqueue(self, trap: ReceivedTrap) -> None:
        if len(self._pending) >= self.max_pending:
            self._drop("overflow")
            return
        self._pending.append(trap)
        self.stats.received += 1
        self._wake.set()

    def _drop(self, reason: str) -> None:
        setattr(self.stats, reason, getattr(self.stats, reason) + 1)
        self.on_drop(reason)

    def _fast_path(self, data: bytes, address: Any) -> bool:
        """True when the datagram was a v2c trap handled here; False hands it to pysnmp."""
        try:
            decoded = decode_v2c_trap(data, self._oid_cache)
        except (BerError, IndexError):
            return False  # pysnmp gets the last word (and drops it if it is garbage)
        if decoded is None:
            return False
        if decoded.community not in self._communities:
            self._drop("bad_community")
            return True
        trap_oid, uptime, rest = split_varbinds(decoded.varbinds)
        if not trap_oid:
            self._drop("malformed")
            return True
        self.stats.fast += 1
        self._enqueue(ReceivedTrap(str(address[0]), int(address[1]), "v2c", trap_oid, rest, self.clock(), uptime))
        return True

    def _from_pysnmp(self, eng: Any, state_reference: Any, context_engine_id: Any, context_name: Any,
                     varbinds: Any, cb_ctx: Any) -> None:
        ctx = eng.observer.get_execution_context("rfc3412.receiveMessage:request")
        address = ctx["transportAddress"]
        version = {0: "v1", 1: "v2c", 3: "v3"}.get(int(ctx["messageProcessingModel"]), "v3")
        inform = ctx["pdu"].tagSet == _INFORM_TAG
        plain = [(str(oid), _plain(value)) for oid, value in varbinds]
        trap_oid, uptime, rest = split_varbinds(plain)
        if not trap_oid:
            self._drop("malformed")
            return
        self._enqueue(ReceivedTrap(str(address[0]), int(address[1]), version, trap_oid, rest, self.clock(), uptime,
                                   inform))

    # -- hand-off ---------------------------------------------------------------------------
    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.batch_window)  # let the batch fill
            self._wake.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                await self.sink(batch)
            except asyncio.CancelledError:
                self._pending[:0] = batch
                raise
            except Exception:
                # Keep the traps and retry with the next batch: a database hiccup loses nothing.
                log.exception("storing %d traps failed; retrying", len(batch))
                self._pending[:0] = batch
                self._wake.set()
                await asyncio.sleep(0.5)

