"""Named value maps (numeric MIB enumerations and vendor codes -> words).

Manifests say ``map: if_oper_status`` or give an inline mapping; the named maps here
are copied from the MIB or API documentation cited next to each one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# IF-MIB (RFC 2863) ifOperStatus / ifAdminStatus.
IF_OPER_STATUS = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent",
                  7: "lowerLayerDown"}
IF_ADMIN_STATUS = {1: "up", 2: "down", 3: "testing"}
# ItuPerceivedSeverity (ITU-ALARM-TC-MIB, RFC 3877), the syntax of CIENA-CES-ALARM-MIB
# cienaCesAlarmActiveSeverity (1.3.6.1.4.1.1271.2.1.24.1.3.1.1.1); words are X.733 severities.
CIENA_CES_ALARM_SEVERITY = {1: "cleared", 2: "indeterminate", 3: "critical", 4: "major", 5: "minor", 6: "warning"}
# PRTG API "status_raw" of sensors (PRTG manual, "Live Data" / sensor states).
PRTG_STATUS = {1: "unknown", 2: "scanning", 3: "up", 4: "warning", 5: "down", 6: "no_probe", 7: "paused_user",
               8: "paused_dependency", 9: "paused_schedule", 10: "unusual", 11: "paused_license",
               12: "paused_until", 13: "down_acknowledged", 14: "down_partial"}
# X.733 perceived severity words (Ciena MCP, SAOS CLI) -> OpsConductor severities.
X733_TO_SEVERITY = {"critical": "critical", "major": "major", "minor": "minor", "warning": "warning",
                    "indeterminate": "warning", "info": "info", "cleared": "clear", "clear": "clear"}

BUILTIN_MAPS: Mapping[str, Mapping[Any, str]] = {
    "if_oper_status": IF_OPER_STATUS,
    "if_admin_status": IF_ADMIN_STATUS,
    "ciena_ces_alarm_severity": CIENA_CES_ALARM_SEVERITY,
    "prtg_status": PRTG_STATUS,
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
