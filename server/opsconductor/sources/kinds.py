"""The contract every source kind of an addon manifest implements, and their registry.

An addon manifest (``addons/<name>/addon.yaml``) lists sources; each has a ``kind``
(``snmp``, ``snmp_trap``, ``ssh``, ``http``, ``ping``, ``webhook``). The manifest loader
(``sources/manifest.py``) validates the common envelope and hands each source entry to
its kind's :meth:`SourceKind.parse`, which returns a validated, immutable spec or raises
ConfigError with ``file:line:col``. Polled kinds are then scheduled by the poller; pushed
kinds (traps, webhooks) are served by their receivers. Every kind ends in the same place:
``emit(events)``, which is :meth:`opsconductor.pipeline.Pipeline.accept`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from opsconductor.config.yaml_source import DataPath, Positions
from opsconductor.model.event import NormalizedEvent
from opsconductor.sources.mibs import MibResolver

Emit = Callable[[Sequence[NormalizedEvent]], Awaitable[Any]]


@dataclass(frozen=True)
class Target:
    """A device or API endpoint to poll, from the inventory, the REST API or NetBox."""

    name: str
    address: str
    port: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    addons: tuple[str, ...] = ()
    intervals: Mapping[str, float] = field(default_factory=dict)  # "<addon>/<source>" or "<addon>" -> seconds
    credential: str | None = None  # a reference (env:NAME, file:NAME), never the secret itself
    enabled: bool = True
    # Per "<addon>/<source>", "<addon>" or kind ("snmp", "ssh", "http") references, when one
    # device needs several secrets (an SNMP community and an SSH key).
    credentials: Mapping[str, str] = field(default_factory=dict)
    origin: str = "inventory"  # inventory | api | netbox
    ports: Mapping[str, int] = field(default_factory=dict)  # per kind ("snmp": 1161); wins over `port`
    depends_on: tuple[str, ...] = ()  # upstream targets (topology suppression): names of other targets

    def port_for(self, kind: str, default: int) -> int:
        return int(self.ports.get(kind) or self.port or default)


class SourceKind(Protocol):
    """One kind of source entry in an addon manifest."""

    name: str  # the value of `kind:` in the manifest
    polled: bool  # True: the poller runs it per (target, source) on an interval

    def schema(self) -> dict[str, Any]:
        """JSON Schema of one source entry of this kind (merged into schemas/addon.schema.json)."""
        ...

    def parse(self, entry: Mapping[str, Any], positions: Positions, path: DataPath) -> Any:
        """Validate one source entry; return an immutable spec; raise ConfigError(s) with positions."""
        ...


class Registry:
    """Source kinds by name. Built explicitly (no import-time globals) by :func:`default_registry`."""

    def __init__(self, kinds: Sequence[SourceKind] = (), mibs: MibResolver | None = None):
        self.mibs = mibs or MibResolver()  # MIB names in manifests; loads MIBs on first use only
        self._kinds: dict[str, SourceKind] = {}
        for k in kinds:
            self.add(k)

    def add(self, kind: SourceKind) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"source kind {kind.name!r} registered twice")
        self._kinds[kind.name] = kind

    def get(self, name: str) -> SourceKind | None:
        return self._kinds.get(name)

    def names(self) -> list[str]:
        return sorted(self._kinds)


def default_registry(mibs: MibResolver | None = None) -> Registry:
    """Every shipped source kind. Each kind's module adds one line here.

    ``mibs`` resolves MIB names in manifests; the sources service keeps one per process.
    """
    mibs = mibs or MibResolver()
    kinds: list[SourceKind] = []
    from opsconductor.sources.http import HttpKind
    from opsconductor.sources.ping import PingKind
    from opsconductor.sources.snmp import SnmpKind
    from opsconductor.sources.ssh import SshKind

    kinds += [SnmpKind(mibs), SshKind(), HttpKind(), PingKind()]
    from opsconductor.sources.webhook import WebhookKind

    kinds.append(WebhookKind())  # pushed: POST /api/v1/webhooks/{addon}, /api/v2/alerts
    from opsconductor.sources.snmp_trap import SnmpTrapKind

    kinds.append(SnmpTrapKind(mibs))  # pushed: the SNMP trap receiver
    return Registry(kinds, mibs)
