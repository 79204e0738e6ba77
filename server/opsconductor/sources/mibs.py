"""MIB names <-> numeric OIDs, for manifests (names -> OIDs at load time) and trap labels (OIDs -> names).

Manifests may write ``IF-MIB::ifOperStatus``, ``ifHCInOctets`` or ``SNMPv2-MIB::sysName.0``
(a name, optionally module-qualified, optionally followed by a numeric instance suffix)
wherever they take a numeric OID. Names are resolved once, when the manifest loads, so the
poll path only ever sees numeric OIDs.

The MIBs are pre-compiled pysnmp modules: pysnmp's own (SNMPv2-SMI, SNMPv2-MIB, SNMP-*)
and the IETF/IANA set of the ``pysnmp-mibs`` package (IF-MIB, IP-MIB, ENTITY-MIB, BGP4-MIB
and ~270 more). Nothing is loaded until the first name is asked for (a numeric-only
configuration costs nothing): then :data:`DEFAULT_MODULES` load, and a module a manifest
names (``BGP4-MIB::bgpPeerState``) loads on demand and stays loaded, so its objects and
notifications are named in trap labels too. One resolver per process: the sources service
owns it through its :class:`~opsconductor.sources.kinds.Registry`.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

from pysnmp.smi import builder, error, view

NUMERIC = r"\.?[0-9]+(\.[0-9]+)+"
SYMBOLIC = r"([A-Za-z][A-Za-z0-9-]*::)?[A-Za-z][A-Za-z0-9-]*(\.[0-9]+)*"
OID_OR_NAME = f"^({NUMERIC}|{SYMBOLIC})$"
"""JSON Schema pattern of a manifest's OID: numeric, or a MIB name with an optional instance."""

_NUMERIC = re.compile(f"^{NUMERIC}$")
_SYMBOLIC = re.compile(r"^(?:(?P<module>[A-Za-z][A-Za-z0-9-]*)::)?(?P<name>[A-Za-z][A-Za-z0-9-]*)"
                       r"(?P<suffix>(?:\.[0-9]+)*)$")

DEFAULT_MODULES = ("SNMPv2-MIB", "IF-MIB", "IP-MIB", "ENTITY-MIB", "ENTITY-SENSOR-MIB", "HOST-RESOURCES-MIB",
                   "BRIDGE-MIB", "EtherLike-MIB", "BGP4-MIB", "OSPF-MIB", "OSPF-TRAP-MIB", "UCD-SNMP-MIB",
                   "DISMAN-EVENT-MIB", "NOTIFICATION-LOG-MIB", "ENTITY-STATE-MIB", "RMON-MIB", "ALARM-MIB")
"""Loaded on first use: what bare names (``ifOperStatus``) are looked up in, and trap labels name."""

# Modules that only define the tree and types: a name from them (``enterprises.9.1``) says no more
# than the number, so an OID only they cover keeps its numeric form in labels.
_STRUCTURE = frozenset({"SNMPv2-SMI", "SNMPv2-TC", "SNMPv2-CONF", "RFC1155-SMI", "RFC1065-SMI", "ASN1",
                        "ASN1-ENUMERATION", "ASN1-REFINEMENT", ""})
_NAME_CACHE_MAX = 10_000


class MibError(ValueError):
    """A name that does not resolve: unknown module or unknown object (the message says which)."""


def mib_dirs() -> list[Path]:
    """Directories of pre-compiled pysnmp MIB modules besides pysnmp's own."""
    import pysnmp_mibs  # the IETF/IANA MIBs (PyPI pysnmp-mibs)

    return [Path(os.path.dirname(pysnmp_mibs.__file__))]


def is_numeric(text: str) -> bool:
    return bool(_NUMERIC.match(text.strip()))


class MibResolver:
    """Names -> numeric OIDs and back, over the MIB modules loaded so far (lazily)."""

    def __init__(self, dirs: list[Path] | None = None, default_modules: tuple[str, ...] = DEFAULT_MODULES):
        self._dirs = dirs
        self._defaults = default_modules
        self._builder: Any = None
        self._view: Any = None
        self._loaded: set[str] = set()
        self._names: dict[str, str | None] = {}

    # -- loading -----------------------------------------------------------------------
    def _ready(self) -> Any:
        if self._view is None:
            b = builder.MibBuilder()
            b.add_mib_sources(*(builder.DirMibSource(str(d)) for d in (self._dirs or mib_dirs())))
            self._builder, self._view = b, view.MibViewController(b)
            for m in self._defaults:
                self._load(m)
        return self._view

    def _load(self, module: str) -> None:
        if module in self._loaded:
            return
        try:
            # pysnmp-mibs modules use pysnmp's older camelCase API, which pysnmp 7 still serves
            # but flags as deprecated: not an error (under `-W error` or pytest it would be).
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                self._builder.load_modules(module)
        except error.MibNotFoundError as exc:
            raise MibError(f"unknown MIB module {module!r} (not among the MIBs OpsConductor ships; "
                           "see docs/addons.md)") from exc
        self._loaded.add(module)
        self._names.clear()  # a new module may name OIDs that were numeric before

    def preload(self) -> None:
        """Load the default modules now (the trap receiver names OIDs even for numeric manifests)."""
        self._ready()

    def loaded(self) -> set[str]:
        return set(self._loaded)

    # -- names -> OIDs -------------------------------------------------------------------
    def resolve(self, text: str) -> str:
        """``IF-MIB::ifOperStatus`` -> ``1.3.6.1.2.1.2.2.1.8``; a numeric OID is returned as is (no dot)."""
        text = str(text).strip()
        if _NUMERIC.match(text):
            return text.lstrip(".")
        m = _SYMBOLIC.match(text)
        if m is None:
            raise MibError(f"not an OID or a MIB name: {text!r} (write e.g. 1.3.6.1.2.1.2.2.1.8 or "
                           "IF-MIB::ifOperStatus)")
        v = self._ready()
        module, name, suffix = m.group("module") or "", m.group("name"), m.group("suffix")
        if module:
            self._load(module)
        try:
            oid, _label, _rest = v.get_node_name((name,), module)
        except error.SmiError as exc:
            where = f"in {module}" if module else \
                f"(not in the default MIBs, see docs/addons.md; write MODULE::{name} for another module)"
            raise MibError(f"unknown MIB object {name!r} {where}") from exc
        return ".".join(str(x) for x in tuple(oid)) + suffix

    # -- OIDs -> names -------------------------------------------------------------------
    def name(self, oid: str) -> str | None:
        """``1.3.6.1.2.1.2.2.1.8.5`` -> ``IF-MIB::ifOperStatus.5``; None when no loaded MIB names it.

        Never loads anything by itself: a resolver no manifest asked a name of names nothing.
        """
        if self._view is None:
            return None
        if oid in self._names:
            return self._names[oid]
        named: str | None = None
        try:
            parts = tuple(int(x) for x in oid.strip().lstrip(".").split("."))
            module, symbol, suffix = self._view.get_node_location(parts)
            if module not in _STRUCTURE:
                named = f"{module}::{symbol}" + "".join(f".{x}" for x in tuple(suffix))
        except (ValueError, error.SmiError):
            named = None
        if len(self._names) >= _NAME_CACHE_MAX:
            self._names.clear()
        self._names[oid] = named
        return named

    def label(self, oid: str) -> str:
        """The name where a loaded MIB has one, else the numeric OID."""
        return self.name(oid) or oid
