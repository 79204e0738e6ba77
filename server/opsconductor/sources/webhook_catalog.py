"""The pushed sources (webhooks, SNMP traps) of the installed addons, loaded and reloadable.

Pushed sources need no scheduler: the HTTP routes and the trap receiver ask this
catalog, at the moment a payload arrives, which addon source translates it. Loading
reads ``<addons_dir>/*/addon.yaml``; only the ``sources`` entries of pushed kinds are
parsed here (polled kinds belong to the poller). A manifest with an error is refused
with ``file:line:col`` and the previously loaded version of that addon stays in force;
the other addons are unaffected.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsconductor.config.yaml_source import load_yaml
from opsconductor.errors import ConfigError, ConfigErrors, NotFound
from opsconductor.sources.webhook import WebhookKind, WebhookSpec

log = logging.getLogger(__name__)

MANIFEST = "addon.yaml"


@dataclass(frozen=True)
class PushAddon:
    """The pushed sources of one addon manifest, by source name."""

    name: str
    file: str
    sources: dict[str, Any] = field(default_factory=dict)

    def of_type(self, cls: type[Any]) -> list[Any]:
        return [s for s in self.sources.values() if isinstance(s, cls)]


def _pushed_kinds() -> dict[str, Any]:
    return {k.name: k for k in (WebhookKind(),)}


def parse_manifest_pushed(path: Path, kinds: dict[str, Any] | None = None) -> PushAddon:
    """The pushed sources of one manifest file; ConfigError(s) with file:line:col."""
    kinds = kinds if kinds is not None else _pushed_kinds()
    doc = load_yaml(path)
    data, pos = doc.data, doc.positions
    if not isinstance(data, dict):
        raise ConfigError("an addon manifest must be a mapping", pos.at(()))
    name = data.get("name", path.parent.name)
    if not isinstance(name, str) or not name.strip():
        raise pos.error(("name",), "the addon needs a 'name'")
    sources = data.get("sources", [])
    if not isinstance(sources, list):
        raise pos.error(("sources",), "'sources' must be a list")
    out: dict[str, Any] = {}
    errors: list[ConfigError] = []
    for i, entry in enumerate(sources):
        if not isinstance(entry, dict):
            errors.append(pos.error(("sources", i), "a source must be a mapping"))
            continue
        kind = kinds.get(str(entry.get("kind", "")))
        if kind is None:
            continue  # a polled kind, validated by the manifest loader / poller
        if entry.get("enabled", True) is False:
            continue
        try:
            spec = kind.parse(entry, pos, ("sources", i))
        except ConfigError as exc:
            errors.append(exc)
            continue
        spec = spec.with_addon(name)
        if spec.name in out:
            errors.append(pos.error(("sources", i, "name"), f"duplicate source name {spec.name!r}"))
            continue
        out[spec.name] = spec
    if errors:
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
    return PushAddon(name=name, file=str(path), sources=out)


class PushCatalog:
    """Current pushed sources per addon; :meth:`load` swaps in what parses, keeps the rest."""

    def __init__(self, addons_dir: Path):
        self.addons_dir = addons_dir
        self._addons: dict[str, PushAddon] = {}
        self.errors: list[ConfigError] = []

    def load(self) -> list[ConfigError]:
        """(Re)read every manifest; returns the errors (also logged). Refused manifests keep their old state."""
        errors: list[ConfigError] = []
        fresh: dict[str, PushAddon] = {}
        kinds = _pushed_kinds()
        seen_files: set[str] = set()
        for path in sorted(self.addons_dir.glob(f"*/{MANIFEST}")) if self.addons_dir.is_dir() else []:
            seen_files.add(str(path))
            try:
                addon = parse_manifest_pushed(path, kinds)
            except ConfigError as exc:
                errors.extend(exc.errors if isinstance(exc, ConfigErrors) else [exc])
                old = next((a for a in self._addons.values() if a.file == str(path)), None)
                if old is not None:
                    fresh[old.name] = old
                continue
            if addon.name in fresh:
                errors.append(ConfigError(f"addon name {addon.name!r} is used twice", None))
                continue
            if addon.sources:
                fresh[addon.name] = addon
        self._addons = fresh
        self.errors = errors
        for e in errors:
            log.error("addon manifest refused: %s", e)
        return errors

    def replace_addons(self, addons: Iterable[PushAddon]) -> None:
        """Install already-parsed addons (used when the manifest loader hands them over)."""
        self._addons = {a.name: a for a in addons if a.sources}

    def addons(self) -> Sequence[PushAddon]:
        return list(self._addons.values())

    def webhook(self, addon: str, source: str | None = None) -> WebhookSpec:
        """The webhook source addressed by ``/api/v1/webhooks/{addon}[/{source}]``; NotFound otherwise."""
        found = self._addons.get(addon)
        hooks: list[WebhookSpec] = found.of_type(WebhookSpec) if found else []
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
        """The source that serves ``/api/v2/alerts``: the ``alertmanager`` format one (``prometheus`` first)."""
        candidates: list[WebhookSpec] = [
            h for a in sorted(self._addons.values(), key=lambda a: (a.name != "prometheus", a.name))
            for h in a.of_type(WebhookSpec) if h.format == "alertmanager"
        ]
        if not candidates:
            raise NotFound("no loaded addon has a webhook source with 'format: alertmanager' "
                           "(install addons/prometheus to accept alerts from Prometheus)")
        return candidates[0]

