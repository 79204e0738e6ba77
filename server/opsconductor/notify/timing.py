"""Durations and time windows of routes (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_duration(value: object) -> float:
    """Seconds from ``30s``, ``5m``, ``4h``, ``1d``, ``250ms`` or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 5m, 4h")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return float(m.group(1)) * _UNITS[m.group(2) or "s"]
    raise ValueError(f"invalid duration {value!r} (expected like 30s, 5m, 4h, 1d)")


def parse_days(spec: list[str]) -> frozenset[int]:
    """Weekday numbers (Monday=0) from names and ranges like ``mon-fri``."""
    out: set[int] = set()
    for item in spec:
        parts = str(item).lower().split("-")
        if len(parts) > 2 or any(p not in DAYS for p in parts):
            raise ValueError(f"invalid weekday {item!r} (expected mon..sun or a range like mon-fri)")
        a, b = DAYS.index(parts[0]), DAYS.index(parts[-1])
        out.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(out)


def parse_clock(value: object) -> time:
    if not isinstance(value, str) or not re.fullmatch(r"\d{2}:\d{2}", value):
        raise ValueError(f"invalid time {value!r} (expected HH:MM)")
    h, m = int(value[:2]), int(value[3:])
    if h == 24 and m == 0:
        return time.max
    if h > 23 or m > 59:
        raise ValueError(f"invalid time {value!r} (expected HH:MM)")
    return time(h, m)


def parse_zone(value: object) -> ZoneInfo:
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Weekdays and a daily [start, end) interval in a time zone; end < start spans midnight."""

    days: frozenset[int]
    start: time
    end: time
    zone: ZoneInfo

    def contains(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        t = local.time()
        if self.start <= self.end:
            return local.weekday() in self.days and self.start <= t < self.end
        # spans midnight: the part after midnight belongs to the previous day's window
        if t >= self.start:
            return local.weekday() in self.days
        return t < self.end and (local.weekday() - 1) % 7 in self.days
