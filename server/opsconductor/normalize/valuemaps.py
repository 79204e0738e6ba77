"""Named value maps (numeric MIB enumerations and vendor codes -> words).

Manifests say ``map: if_oper_status`` or give an inline mapping; the named maps here are the
standards' (IF-MIB, X.733), copied from the documents cited next to each one. A vendor's codes
are an inline map in that vendor's addon.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# IF-MIB (RFC 2863) ifOperStatus / ifAdminStatus.
IF_OPER_STATUS = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent",
                  7: "lowerLayerDown"}
IF_ADMIN_STATUS = {1: "up", 2: "down", 3: "testing"}
# Vendor maps (Ciena alarm severities, PRTG sensor states) live in their addons' YAML.
# X.733 perceived severity words (Ciena MCP, SAOS CLI) -> OpsConductor severities.
X733_TO_SEVERITY = {"critical": "critical", "major": "major", "minor": "minor", "warning": "warning",
                    "indeterminate": "warning", "info": "info", "cleared": "clear", "clear": "clear"}

BUILTIN_MAPS: Mapping[str, Mapping[Any, str]] = {
    "if_oper_status": IF_OPER_STATUS,
    "if_admin_status": IF_ADMIN_STATUS,
    "x733_severity": X733_TO_SEVERITY,
}


def _key(v: Any) -> Any:
    # SNMP integers arrive as ints, CLI/HTTP values as strings: "2" and 2 are the same key.
    if isinstance(v, str):
        s = v.strip()
        if s.lstrip("-").isdigit():
            return int(s)
        return s.lower()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def normalize_map(mapping: Mapping[Any, Any]) -> dict[Any, str]:
    """An inline manifest mapping with keys normalized like looked-up values."""
    return {_key(k): str(v) for k, v in mapping.items()}


def apply_map(mapping: Mapping[Any, str], value: Any, default: str | None = None) -> Any:
    """Map ``value``; unmapped values pass through unchanged unless a ``default`` is given."""
    hit = mapping.get(_key(value))
    if hit is not None:
        return hit
    return default if default is not None else value
