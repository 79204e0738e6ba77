"""The one SSH client (asyncssh): connection reuse and a per-device session limit.

A connection per (address, port, user, credential) is opened on first use and kept (two
targets on one address with different secrets never share one); each command
runs in its own session on it, at most ``sessions_per_device`` at a time per device
(network OSes often allow only a few). A broken connection is dropped and reopened
once. Host keys are checked against ``known_hosts`` when it is set.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from opsconductor.errors import AuthFailed, ErrorAnswer, SourceError, Unreachable
from opsconductor.sources.credentials import CredentialError, Secret

log = logging.getLogger(__name__)


@dataclass
class _Conn:
    conn: asyncssh.SSHClientConnection | None
    sessions: asyncio.Semaphore
    lock: asyncio.Lock


class SshClient:
    def __init__(self, *, concurrency: int = 100, sessions_per_device: int = 2,
                 known_hosts: Path | None = None, connect_timeout: float = 10.0):
        self._limit = asyncio.Semaphore(concurrency)
        self._suspect_limit = asyncio.Semaphore(max(2, concurrency // 4))
        self._per_device = sessions_per_device
        self._known_hosts = str(known_hosts) if known_hosts else None
        self._connect_timeout = connect_timeout
        self._conns: dict[tuple[str, int, str, str], _Conn] = {}

    def _options(self, secret: Secret) -> tuple[str, dict[str, Any]]:
        user = secret.part("username") or secret.part("user")
        if not user:
            raise CredentialError(f"credential {secret.reference}: SSH needs a JSON object with 'username' "
                              "and 'password' or 'private_key'")
        opts: dict[str, Any] = {"username": user, "known_hosts": self._known_hosts,
                                "connect_timeout": self._connect_timeout}
        key = secret.part("private_key")
        if key:
            try:
                opts["client_keys"] = [asyncssh.import_private_key(key, secret.part("passphrase"))]
            except (asyncssh.KeyImportError, ValueError):
                raise CredentialError(f"credential {secret.reference}: private_key does not parse") from None
            opts["password"] = None
        else:
            opts["password"] = secret.part("password")
            opts["client_keys"] = None
        opts["preferred_auth"] = "publickey" if key else "password,keyboard-interactive"
        return user, opts

    async def _connection(self, address: str, port: int, secret: Secret) -> tuple[_Conn, asyncssh.SSHClientConnection]:
        user, opts = self._options(secret)
        key = (address, port, user, secret.digest())
        entry = self._conns.get(key)
        if entry is None:
            entry = self._conns[key] = _Conn(None, asyncio.Semaphore(self._per_device), asyncio.Lock())
        async with entry.lock:
            if entry.conn is None or entry.conn.is_closed():
                try:
                    entry.conn = await asyncssh.connect(address, port, **opts)
                except (OSError, TimeoutError, asyncssh.ConnectionLost) as exc:
                    raise Unreachable(f"SSH to {address}:{port}: {type(exc).__name__}: {exc}") from None
                except asyncssh.PermissionDenied:
                    raise AuthFailed(f"SSH to {address}:{port}: authentication failed for {user}") from None
                except asyncssh.Error as exc:
                    raise SourceError(f"SSH to {address}:{port}: {exc.reason}") from None
            return entry, entry.conn

    async def run(self, address: str, port: int, secret: Secret, command: str, *, timeout: float,  # noqa: ASYNC109
                  suspect: bool = False) -> str:
        """Run ``command``; its stdout. A non-zero exit status is a SourceError."""
        async with self._suspect_limit if suspect else self._limit:
            for attempt in (1, 2):
                entry, conn = await self._connection(address, port, secret)
                async with entry.sessions:
                    try:
                        result = await asyncio.wait_for(conn.run(command, check=False), timeout)
                    except TimeoutError:
                        raise Unreachable(f"SSH command on {address}:{port} timed out after {timeout}s") from None
                    except (asyncssh.ConnectionLost, asyncssh.ChannelOpenError, BrokenPipeError) as exc:
                        entry.conn = None  # reopen once: the device may have closed an idle connection
                        if attempt == 2:
                            raise Unreachable(f"SSH to {address}:{port}: {exc}") from None
                        continue
                if result.exit_status not in (0, None):
                    err = str(result.stderr or "").strip().splitlines()[:1]
                    raise ErrorAnswer(f"SSH command on {address}:{port} exited {result.exit_status}: "
                                      f"{err[0] if err else ''}")
                out = result.stdout
                return out.decode("utf-8", "replace") if isinstance(out, bytes) else str(out or "")
        raise AssertionError("unreachable")

    @property
    def open_connections(self) -> int:
        return sum(1 for c in self._conns.values() if c.conn is not None and not c.conn.is_closed())

    async def close(self) -> None:
        for entry in self._conns.values():
            if entry.conn is not None:
                entry.conn.close()
                try:
                    await entry.conn.wait_closed()
                except Exception as exc:
                    log.debug("ssh close: %s", exc)
        self._conns.clear()
