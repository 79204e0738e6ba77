"""The pushed sources (webhooks, SNMP traps) of the loaded, enabled addons.

Pushed sources need no scheduler: the HTTP routes and the trap receiver ask this catalog,
when a payload arrives, which addon source translates it. The manifests themselves are
loaded (and hot-reloaded, a bad one refused while the last good version stays) by the
sources service (``rt.sources``, :mod:`opsconductor.sources.service`); this
catalog is a view on them that re-indexes whenever the loaded set or the enabled set
changes. Without a sources service (a bare runtime) it loads ``addons_dir`` itself once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from opsconductor.errors import NotFound
from opsconductor.sources.kinds import default_registry
from opsconductor.sources.manifest import AddonSet, Manifest, load_addons
from opsconductor.sources.webhook import WebhookSpec

Snapshot = tuple[Mapping[str, Manifest], frozenset[str]]  # loaded manifests, disabled addon names


def service_snapshot(service: Callable[[], Any], addons_dir: Path) -> Callable[[], Snapshot]:
    """What the sources service has loaded; falls back to loading ``addons_dir`` once by itself."""
    own: list[AddonSet] = []

    def snapshot() -> Snapshot:
        svc = service()
        if svc is not None and hasattr(svc, "addons"):
            return svc.addons.manifests, frozenset(getattr(svc, "disabled", frozenset()))
        if not own:
            own.append(load_addons(addons_dir, default_registry()))
        return own[0].manifests, frozenset()

    return snapshot


class PushCatalog:
    """Index of pushed source specs by addon, rebuilt when the loaded manifests change."""

    def __init__(self, snapshot: Callable[[], Snapshot]):
        self._snapshot = snapshot
        self._key: tuple[Any, ...] | None = None
        self._by_addon: dict[str, list[Any]] = {}
        self._paths: dict[str, str] = {}
        self._generation = 0

    def _index(self) -> dict[str, list[Any]]:
        manifests, disabled = self._snapshot()
        key = (tuple(sorted((n, m.digest, str(m.path)) for n, m in manifests.items())), disabled)
        if key != self._key:
            self._by_addon = {
                name: [s.spec for s in m.sources]
                for name, m in manifests.items() if name not in disabled
            }
            self._paths = {name: str(m.path) for name, m in manifests.items()}
            self._key = key
            self._generation += 1
        return self._by_addon

    @property
    def generation(self) -> int:
        """Changes whenever the indexed set changes (the trap receiver rebuilds its OID table then)."""
        self._index()
        return self._generation

    def specs(self, cls: type[Any]) -> list[Any]:
        """Every enabled source spec of a type (``WebhookSpec``, ``TrapSpec``), addons in name order."""
        index = self._index()
        return [s for name in sorted(index) for s in index[name] if isinstance(s, cls)]

    def manifest_paths(self, cls: type[Any]) -> list[str]:
        """Files of the enabled manifests with sources of a type (the trap receiver process loads them)."""
        index = self._index()
        return [self._paths[name] for name in sorted(index) if any(isinstance(s, cls) for s in index[name])]

    def webhook(self, addon: str, source: str | None = None) -> WebhookSpec:
        """The webhook source addressed by ``/api/v1/webhooks/{addon}[/{source}]``; NotFound otherwise."""
        index = self._index()
        _, disabled = self._snapshot()
        if addon in disabled:
            raise NotFound(f"addon {addon!r} is disabled (opsconductor addons enable {addon})")
        hooks = [s for s in index.get(addon, []) if isinstance(s, WebhookSpec)]
        if not hooks:
            raise NotFound(f"no loaded addon {addon!r} with a webhook source")
        if source is None:
            if len(hooks) > 1:
                names = ", ".join(sorted(h.name for h in hooks))
                raise NotFound(f"addon {addon!r} has several webhook sources ({names}); "
                               f"POST to /api/v1/webhooks/{addon}/<source>")
            return hooks[0]
        for h in hooks:
            if h.name == source:
                return h
        raise NotFound(f"addon {addon!r} has no webhook source {source!r}")

    def alertmanager(self) -> WebhookSpec:
        """The source serving ``/api/v2/alerts``: a ``format: alertmanager`` one, addon ``prometheus`` first."""
        index = self._index()
        candidates: list[WebhookSpec] = [
            s for name in sorted(index, key=lambda n: (n != "prometheus", n)) for s in index[name]
            if isinstance(s, WebhookSpec) and s.format == "alertmanager"
        ]
        if not candidates:
            raise NotFound("no enabled addon has a webhook source with 'format: alertmanager' "
                           "(install addons/prometheus to accept alerts from Prometheus)")
        return candidates[0]
