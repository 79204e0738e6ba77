"""The one SNMP client: pysnmp 7 hlapi (v3arch, asyncio) with ONE SnmpEngine per process.

Requests are bounded by a concurrency limit (a semaphore), each has pysnmp's own
timeout/retries plus an overall asyncio timeout, and results are plain Python values
(int, str, None for noSuchObject/noSuchInstance) keyed by dotted OID strings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyasn1.type.univ import ObjectIdentifier
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_walk_cmd,
    get_cmd,
)
from pysnmp.hlapi.v3arch.asyncio import auth as snmp_auth
from pysnmp.hlapi.v3arch.asyncio.cmdgen import VB_PROCESSOR
from pysnmp.proto import errind
from pysnmp.proto.rfc1902 import Integer, IpAddress, OctetString
from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchInstance, NoSuchObject

from opsconductor.errors import AuthFailed, ErrorAnswer, Unreachable
from opsconductor.sources.snmp_usm import AUTH_PROTOCOLS, PRIV_PROTOCOLS


@dataclass(frozen=True)
class SnmpAuth:
    """v2c community or v3 USM user (authPriv/authNoPriv); built from a resolved Secret."""

    version: str  # "1" | "2c" | "3"
    community: str | None = None
    user: str | None = None
    auth_key: str | None = None
    priv_key: str | None = None
    auth_protocol: str = "sha"
    priv_protocol: str = "aes"

    def __repr__(self) -> str:  # never print keys or communities
        return f"SnmpAuth(version={self.version!r}, user={self.user!r})"

    def pysnmp(self) -> CommunityData | UsmUserData:
        if self.version in ("1", "2c"):
            return CommunityData(self.community or "", mpModel=0 if self.version == "1" else 1)
        return UsmUserData(
            self.user or "",
            authKey=self.auth_key,
            privKey=self.priv_key,
            authProtocol=AUTH_PROTOCOLS[self.auth_protocol] if self.auth_key else snmp_auth.USM_AUTH_NONE,
            privProtocol=PRIV_PROTOCOLS[self.priv_protocol] if self.priv_key else snmp_auth.USM_PRIV_NONE,
        )


def plain(value: Any) -> Any:
    """A pysnmp value -> int / float / str / None (SNMP exceptions)."""
    if isinstance(value, (NoSuchObject, NoSuchInstance, EndOfMibView)):
        return None
    if isinstance(value, IpAddress):
        return ".".join(str(b) for b in value.asOctets())
    if isinstance(value, OctetString):
        raw = value.asOctets()
        try:
            text = raw.decode("utf-8")
            if text.isprintable() or not text:
                return text
        except UnicodeDecodeError:
            pass
        return raw.hex(":")
    if isinstance(value, ObjectIdentifier):
        return str(value)
    if isinstance(value, Integer) or hasattr(value, "__int__"):
        try:
            return int(value)
        except (TypeError, ValueError):
            pass
    return value.prettyPrint() if hasattr(value, "prettyPrint") else value


class SnmpClient:
    """GET and bulk WALK on one engine, at most ``concurrency`` requests in flight."""

    def __init__(self, *, concurrency: int = 256, timeout: float = 2.0, retries: int = 1):
        self.engine = SnmpEngine()
        self.timeout = timeout
        self.retries = retries
        # Healthy targets and suspect ones (failing, in backoff) wait in separate lanes, so
        # requests that will time out can never take every slot from targets that answer.
        self._limit = asyncio.Semaphore(concurrency)
        self._suspect_limit = asyncio.Semaphore(max(2, concurrency // 4))
        self._transports: dict[tuple[str, int, float, int], UdpTransportTarget] = {}
        self._context = ContextData()
        self._auth: dict[SnmpAuth, CommunityData | UsmUserData] = {}
        self._varbinds: dict[tuple[str, ...], tuple[ObjectType, ...]] = {}

    def _request_varbinds(self, oids: Sequence[str]) -> tuple[ObjectType, ...]:
        """Resolved once per OID list: pysnmp skips resolving an already resolved ObjectType."""
        key = tuple(oids)
        vbs = self._varbinds.get(key)
        if vbs is None:
            vbs = tuple(ObjectType(ObjectIdentity(o)).resolve_with_mib(
                VB_PROCESSOR.get_mib_view_controller(self.engine.cache)) for o in oids)
            if len(self._varbinds) < 10_000:
                self._varbinds[key] = vbs
        return vbs

    async def _transport(self, address: str, port: int, timeout: float, retries: int) -> UdpTransportTarget:  # noqa: ASYNC109
        key = (address, port, timeout, retries)
        t = self._transports.get(key)
        if t is None:
            t = await UdpTransportTarget.create((address, port), timeout=timeout, retries=retries)
            self._transports[key] = t
        return t

    def _auth_data(self, auth: SnmpAuth) -> CommunityData | UsmUserData:
        a = self._auth.get(auth)
        if a is None:
            a = self._auth[auth] = auth.pysnmp()
        return a

    def _deadline(self, timeout: float | None, retries: int | None) -> tuple[float, int, float]:
        t = self.timeout if timeout is None else timeout
        r = self.retries if retries is None else retries
        return t, r, t * (r + 1) + 1.0

    def forget_engine(self, address: str, port: int) -> bool:
        """Drop what discovery learnt about the agent at ``address:port`` (engine ID, boots, time).

        pysnmp keeps a discovered engine ID per transport address for minutes and drops answers
        from an agent whose engine ID has since changed (replaced device, reset configuration),
        so v3 requests time out. After a v3 failure the request is sent once more, discovering the
        engine again (``unknownEngineID`` / ``notInTimeWindow`` recover the same way).
        """
        dropped = False
        for mp in self.engine.message_processing_subsystems.values():
            cache = getattr(mp, "_SnmpV3MessageProcessingModel__engineIdCache", None)
            if isinstance(cache, dict):
                for key in [k for k in cache if tuple(k[1])[:2] == (address, port)]:
                    del cache[key]
                    dropped = True
        return dropped

    def lane(self, suspect: bool) -> asyncio.Semaphore:
        return self._suspect_limit if suspect else self._limit

    async def get(self, address: str, port: int, auth: SnmpAuth, oids: Sequence[str], *,
                  timeout: float | None = None, retries: int | None = None, suspect: bool = False  # noqa: ASYNC109
                  ) -> dict[str, Any]:
        """GET ``oids`` in one PDU; returns {oid: value}; Unreachable on timeout."""
        try:
            return await self._get(address, port, auth, oids, timeout, retries, suspect)
        except (Unreachable, AuthFailed):
            if not self._rediscover(auth, address, port):
                raise
            return await self._get(address, port, auth, oids, timeout, retries, suspect)

    def _rediscover(self, auth: SnmpAuth, address: str, port: int) -> bool:
        """After a v3 failure: True when a discovered engine was dropped, so asking again may work."""
        return auth.version == "3" and self.forget_engine(address, port)

    async def _get(self, address: str, port: int, auth: SnmpAuth, oids: Sequence[str], timeout: float | None,  # noqa: ASYNC109
                   retries: int | None, suspect: bool) -> dict[str, Any]:
        t, r, overall = self._deadline(timeout, retries)
        async with self.lane(suspect):
            transport = await self._transport(address, port, t, r)
            try:
                err, status, index, binds = await asyncio.wait_for(get_cmd(
                    self.engine, self._auth_data(auth), transport, self._context,
                    *self._request_varbinds(oids), lookupMib=False,
                ), overall)
            except TimeoutError:
                raise Unreachable(f"SNMP GET to {address}:{port} timed out") from None
        _check(err, status, index, address, port)
        return {str(name): plain(val) for name, val in binds}

    async def walk(self, address: str, port: int, auth: SnmpAuth, column: str, *,
                   timeout: float | None = None, retries: int | None = None,  # noqa: ASYNC109
                   max_repetitions: int = 25, max_rows: int = 100_000, suspect: bool = False) -> dict[str, Any]:
        """Bulk-walk one table column; returns {row index (OID suffix): value}."""
        try:
            return await self._walk(address, port, auth, column, timeout, retries, max_repetitions, max_rows,
                                    suspect)
        except (Unreachable, AuthFailed):
            if not self._rediscover(auth, address, port):
                raise
            return await self._walk(address, port, auth, column, timeout, retries, max_repetitions, max_rows,
                                    suspect)

    async def _walk(self, address: str, port: int, auth: SnmpAuth, column: str, timeout: float | None,  # noqa: ASYNC109
                    retries: int | None, max_repetitions: int, max_rows: int, suspect: bool) -> dict[str, Any]:
        t, r, overall = self._deadline(timeout, retries)
        prefix = ObjectIdentifier(column)
        out: dict[str, Any] = {}

        async def run() -> None:
            transport = await self._transport(address, port, t, r)
            async for err, status, index, binds in bulk_walk_cmd(
                self.engine, self._auth_data(auth), transport, self._context, 0, max_repetitions,
                ObjectType(ObjectIdentity(column)), lookupMib=False, lexicographicMode=False,
            ):
                _check(err, status, index, address, port)
                for name, val in binds:
                    oid = ObjectIdentifier(name)
                    if not prefix.isPrefixOf(oid):
                        return
                    out[".".join(str(x) for x in oid[len(prefix):])] = plain(val)
                    if len(out) >= max_rows:
                        return

        async with self.lane(suspect):
            try:
                # Every page has its own pysnmp timeout; bound the whole walk too.
                await asyncio.wait_for(run(), overall * 10)
            except TimeoutError:
                raise Unreachable(f"SNMP WALK of {column} on {address}:{port} timed out") from None
        return out

    def close(self) -> None:
        self.engine.close_dispatcher()


# The agent refused our USM credential (wrong keys, unknown user, wrong security level).
_AUTH_ERRORS = (errind.WrongDigest, errind.UnknownUserName, errind.UnsupportedSecurityLevel,
                errind.DecryptionError, errind.AuthenticationFailure, errind.AuthenticationError,
                errind.UnknownSecurityName, errind.UnknownCommunityName)
# The agent's engine (ID, boots, time) is not the one we discovered: rediscover, then retry.
STALE_ENGINE = (errind.UnknownEngineID, errind.NotInTimeWindow, errind.EngineIDMismatch)


def _check(err: Any, status: Any, index: Any, address: str, port: int) -> None:
    if err:
        if isinstance(err, errind.RequestTimedOut) or "timed out" in str(err).lower():
            raise Unreachable(f"SNMP request to {address}:{port} timed out")
        if isinstance(err, STALE_ENGINE):
            raise StaleEngine(f"SNMP engine of {address}:{port} changed: {err}")
        if isinstance(err, _AUTH_ERRORS):
            raise AuthFailed(f"SNMP credential refused by {address}:{port}: {err}")
        raise ErrorAnswer(f"SNMP error from {address}:{port}: {err}", "snmp_error")
    if status:
        raise ErrorAnswer(f"SNMP error from {address}:{port}: {status.prettyPrint()} at index {index}", "snmp_error")


class StaleEngine(AuthFailed):
    """An SNMPv3 agent's engine ID or boots/time changed (agent replaced or reset)."""
