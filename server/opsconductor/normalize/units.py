"""Unit conversions and thresholds: pure functions referenced by name from manifests."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opsconductor.model.event import SEVERITY_RANK, Severity

_SI = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}
_IEC = {"ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
_QUANTITY = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([kKmMgGtT]i?)?\s*([A-Za-z%/]*)\s*$")


def to_number(value: Any) -> float:
    """Plain numbers and numeric strings ("42", "3.5") -> float; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, (int, float)):
        return float(value)
    return float(str(value).strip().rstrip("%"))


def parse_quantity(value: Any) -> float:
    """"1.5 GB" -> 1.5e9, "10Mbps" -> 1e7, "2 KiB" -> 2048, "87 %" -> 87.0."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    m = _QUANTITY.match(str(value))
    if not m:
        raise ValueError(f"not a quantity: {value!r}")
    number, prefix, _unit = m.groups()
    p = (prefix or "").lower()
    factor = _IEC[p] if p in _IEC else _SI[p]
    return float(number) * factor


def timeticks_to_seconds(value: Any) -> float:
    """SNMP TimeTicks (hundredths of a second, RFC 2578) -> seconds."""
    return to_number(value) / 100.0


def celsius_from_tenths(value: Any) -> float:
    return to_number(value) / 10.0


CONVERSIONS: Mapping[str, Callable[[Any], float]] = {
    "number": to_number,
    "quantity": parse_quantity,
    "timeticks": timeticks_to_seconds,
    "tenths": celsius_from_tenths,
}


@dataclass(frozen=True)
class Threshold:
    """Levels checked most severe first: ``above`` (>=) or ``below`` (<=) a limit."""

    levels: tuple[tuple[Severity, str, float], ...]  # (severity, "above"|"below", limit)
    hysteresis: float = 0.0  # a level crossed stays until the value is this far back past its limit

    def evaluate(self, value: Any, current: Severity | None = None) -> Severity:
        """The most severe level crossed, or ``clear``; with hysteresis, ``current`` holds within its band."""
        v = to_number(value)
        crossed = Severity.clear
        for sev, direction, limit in self.levels:
            if (direction == "above" and v >= limit) or (direction == "below" and v <= limit):
                crossed = sev
                break
        if self.hysteresis and current is not None and SEVERITY_RANK[crossed] < SEVERITY_RANK[current]:
            for sev, direction, limit in self.levels:
                if sev == current and ((direction == "above" and v >= limit - self.hysteresis)
                                       or (direction == "below" and v <= limit + self.hysteresis)):
                    return current
        return crossed


def build_threshold(spec: Mapping[str, Any]) -> Threshold:
    """``{above: {major: 90, warning: 75}, hysteresis: 5}`` or ``{below: {critical: 5}}`` -> Threshold."""
    levels: list[tuple[Severity, str, float]] = []
    for direction in ("above", "below"):
        for sev_name, limit in (spec.get(direction) or {}).items():
            try:
                sev = Severity(sev_name)
            except ValueError:
                raise ValueError(f"unknown severity {sev_name!r} in threshold") from None
            if sev == Severity.clear:
                raise ValueError("a threshold level cannot be 'clear' (clear is below every level)")
            levels.append((sev, direction, to_number(limit)))
    if not levels:
        raise ValueError("a threshold needs 'above' or 'below' levels")
    unknown = set(spec) - {"above", "below", "hysteresis"}
    if unknown:
        raise ValueError(f"unknown threshold option {sorted(unknown)[0]!r}")
    hysteresis = to_number(spec.get("hysteresis", 0))
    if hysteresis < 0:
        raise ValueError("hysteresis cannot be negative")
    return Threshold(tuple(sorted(levels, key=lambda x: -SEVERITY_RANK[x[0]])), hysteresis)


def convert(value: Any, steps: Sequence[str]) -> Any:
    for name in steps:
        value = CONVERSIONS[name](value)
    return value
