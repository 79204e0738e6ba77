"""What a polled kind gets when the poller runs it: the target, the spec, the clients.

Polled kinds implement :class:`PolledKind` (``collect`` returns records); the poller
does the rest the same way for every protocol: field transforms, event rules, the
unreachable event, backoff, metrics, and ``pipeline.accept``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from opsconductor.errors import SourceError
from opsconductor.sources.credentials import CredentialError, Secret, resolve
from opsconductor.sources.kinds import SourceKind, Target

if TYPE_CHECKING:
    from opsconductor.sources.common import CommonSpec
    from opsconductor.sources.http_client import HttpClient
    from opsconductor.sources.ping_client import Pinger
    from opsconductor.sources.snmp_client import SnmpClient
    from opsconductor.sources.ssh_client import SshClient


@dataclass
class Clients:
    """ONE client per protocol, shared by every job of the process."""

    snmp: SnmpClient
    ssh: SshClient
    http: HttpClient
    ping: Pinger

    async def close(self) -> None:
        self.snmp.close()
        await self.ssh.close()
        await self.http.close()


@dataclass
class PollJob:
    """One (target, addon, source) the poller runs on an interval."""

    target: Target
    addon: str
    spec: Any  # the kind's parsed spec; has .common: CommonSpec
    clients: Clients
    environ: Mapping[str, str] | None = None
    state: dict[str, Any] = field(default_factory=dict)
    # Addons that discover targets (NetBox) hand them here: (addon, [target dicts]).
    sync: Callable[[str, list[dict[str, Any]]], Awaitable[Any]] | None = None
    # Set by the poller while the target is failing: clients put it in their slow lane.
    suspect: bool = False
    # `file:` references resolve only inside it (None: as given, for offline tools).
    credentials_dir: Path | None = None

    async def sync_inventory(self, addon: str, targets: list[dict[str, Any]]) -> None:
        if self.sync is None:
            raise SourceError(f"{addon}: inventory sync is not available here")
        await self.sync(addon, targets)

    @property
    def common(self) -> CommonSpec:
        c: CommonSpec = self.spec.common
        return c

    @property
    def key(self) -> str:
        return f"{self.target.name}/{self.addon}/{self.common.name}"

    def credential(self, *, required: bool = True) -> Secret | None:
        """The target's secret for this addon/source/kind; resolved now, never cached in the job."""
        t = self.target
        c = self.common
        ref = None
        for k in (f"{self.addon}/{c.name}", self.addon, c.kind):
            if k in t.credentials:
                ref = t.credentials[k]
                break
        ref = ref or t.credential
        if ref is None:
            if required:
                raise CredentialError(f"target {t.name} has no credential for {self.addon}/{c.name}")
            return None
        return resolve(ref, self.environ, self.credentials_dir)


class PolledKind(SourceKind, Protocol):
    """A kind the poller runs: fetch and parse into records (a list of flat dicts)."""

    async def collect(self, job: PollJob) -> list[dict[str, Any]]:
        """Raise Unreachable when the target does not answer, SourceError when the answer is unusable."""
        ...
