"""Time intervals at Alertmanager's level, plus one-off windows.

A ``schedule:`` (maintenance windows) is one interval or a list of them (any may match).
An interval is either recurring, like Alertmanager's ``time_intervals`` entries::

    times: [{start_time: "22:00", end_time: "24:00"}, {start_time: "00:00", end_time: "02:00"}]
    weekdays: [monday:friday, sunday]
    days_of_month: ["1:7", "-1"]          # negative: from the end of the month
    months: [january:march, december]     # or 1:3
    years: ["2026:2027"]
    location: Europe/Amsterdam            # default UTC

(a missing field matches everything; ``end_time`` is exclusive and may be ``24:00``), or
one-off: ``start``/``end`` as RFC 3339 times. Parsing reports every problem through
``err(path, message)`` so ``rules check`` prints ``file:line:col``, including windows that
can never match (an empty time range, day 30 in February only, an end before its start).
Evaluation is pure: :func:`in_interval` on a UTC instant, converted to ``location``, so
DST changes follow the zone's rules.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Err = Callable[[tuple[Any, ...], str], None]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
KEYS = ("times", "weekdays", "days_of_month", "months", "years", "location", "start", "end")
_CLOCK = re.compile(r"^(\d{2}):(\d{2})$")
_MAX_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February: 29 in leap years


@dataclass(frozen=True, slots=True)
class Interval:
    times: tuple[tuple[int, int], ...] = ()  # minutes since local midnight, [start, end)
    weekdays: frozenset[int] | None = None  # 0 = Monday
    days_of_month: tuple[tuple[int, int], ...] | None = None  # inclusive; negative counts from the end
    months: frozenset[int] | None = None  # 1..12
    years: tuple[tuple[int, int], ...] | None = None
    location: str = "UTC"
    start: datetime | None = None  # one-off
    end: datetime | None = None


def _day_in(day: int, last: int) -> int:
    return day if day > 0 else last + day + 1


def in_interval(iv: Interval, now: datetime) -> bool:
    if iv.start is not None and iv.end is not None:
        return iv.start <= now < iv.end
    local = now.astimezone(ZoneInfo(iv.location))
    if iv.times:
        minute = local.hour * 60 + local.minute
        if not any(a <= minute < b for a, b in iv.times):
            return False
    if iv.weekdays is not None and local.weekday() not in iv.weekdays:
        return False
    if iv.months is not None and local.month not in iv.months:
        return False
    if iv.years is not None and not any(a <= local.year <= b for a, b in iv.years):
        return False
    if iv.days_of_month is not None:
        last = calendar.monthrange(local.year, local.month)[1]
        if not any(_day_in(a, last) <= local.day <= _day_in(b, last) for a, b in iv.days_of_month):
            return False
    return True


def _items(v: Any, path: tuple[Any, ...], what: str, err: Err) -> list[tuple[str, tuple[Any, ...]]]:
    if isinstance(v, (str, int)) and not isinstance(v, bool):
        return [(str(v), path)]
    if not isinstance(v, list) or not v:
        err(path, f"{what} must be a non-empty list")
        return []
    return [(str(x), (*path, i)) for i, x in enumerate(v)]


def _ranges(v: Any, path: tuple[Any, ...], what: str, err: Err, parse: Callable[[str], int | None],
            lo: int, hi: int) -> list[tuple[int, int]]:
    """``a``, ``a:b`` items parsed by ``parse`` into inclusive ranges within [lo, hi]."""
    out = []
    for text, p in _items(v, path, what, err):
        parts = text.split(":")
        nums = [parse(x.strip().lower()) for x in parts]
        if len(parts) > 2 or any(n is None or not lo <= n <= hi for n in nums):
            err(p, f"invalid {what} {text!r}")
            continue
        a, b = nums[0], nums[-1]
        assert a is not None and b is not None
        if a > b:
            err(p, f"{what} range {text!r} is reversed (start after end)")
            continue
        out.append((a, b))
    return out


def _named(names: tuple[str, ...], base: int) -> Callable[[str], int | None]:
    def parse(x: str) -> int | None:
        if x in names:
            return names.index(x) + base
        return int(x) if x.lstrip("-").isdigit() and base == 1 else None

    return parse


def _int(x: str) -> int | None:
    return int(x) if x.lstrip("-").isdigit() else None


def _clock(v: Any, path: tuple[Any, ...], err: Err, *, end: bool) -> int | None:
    m = _CLOCK.match(str(v)) if isinstance(v, str) else None
    if m is None:
        err(path, f"{v!r} is not a time HH:MM")
        return None
    h, mi = int(m.group(1)), int(m.group(2))
    if (h, mi) == (24, 0) and end:
        return 1440
    if h > 23 or mi > 59:
        err(path, f"{v!r} is not a time of day" + (" (24:00 only as end_time)" if h == 24 else ""))
        return None
    return h * 60 + mi


def _rfc3339(v: Any, path: tuple[Any, ...], err: Err) -> datetime | None:
    if isinstance(v, datetime):
        t = v
    else:
        try:
            t = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
        except ValueError:
            err(path, f"{v!r} is not an RFC 3339 time")
            return None
    if t.tzinfo is None:
        err(path, f"{v!r} needs a timezone offset (e.g. 2026-03-01T22:00:00+01:00)")
        return None
    return t


def parse_interval(m: dict[str, Any], path: tuple[Any, ...], err: Err) -> Interval | None:
    """One interval mapping (keys :data:`KEYS`); None when it has errors."""
    n_errors = [0]

    def e(p: tuple[Any, ...], msg: str) -> None:
        n_errors[0] += 1
        err(p, msg)

    for k in m:
        if k not in KEYS:
            e((*path, k), f"unknown key {k!r} in a time interval (expected one of: {', '.join(KEYS)})")
    if "start" in m or "end" in m:
        others = [k for k in m if k not in ("start", "end")]
        if others:
            e((*path, others[0]), "a one-off window has only 'start' and 'end'")
        if "start" not in m or "end" not in m:
            e(path, "a one-off window needs both 'start' and 'end'")
            return None
        t0, t1 = _rfc3339(m["start"], (*path, "start"), e), _rfc3339(m["end"], (*path, "end"), e)
        if t0 is not None and t1 is not None and t1 <= t0:
            e((*path, "end"), "end must be after start: this window is empty")
        return Interval(start=t0, end=t1) if n_errors[0] == 0 else None
    times: list[tuple[int, int]] = []
    if "times" in m:
        raw = m["times"]
        if not isinstance(raw, list) or not raw:
            e((*path, "times"), "times must be a non-empty list of {start_time, end_time}")
            raw = []
        for i, t in enumerate(raw):
            tp = (*path, "times", i)
            if not isinstance(t, dict) or set(t) != {"start_time", "end_time"}:
                e(tp, "each time range is {start_time: HH:MM, end_time: HH:MM}")
                continue
            a, b = _clock(t["start_time"], (*tp, "start_time"), e, end=False), \
                _clock(t["end_time"], (*tp, "end_time"), e, end=True)
            if a is not None and b is not None:
                if b <= a:
                    e(tp, f"empty time range {t['start_time']}-{t['end_time']} (end_time is exclusive and must "
                          "be after start_time; split a range across midnight into two, ending at 24:00)")
                else:
                    times.append((a, b))
    weekdays = None
    if "weekdays" in m:
        days: set[int] = set()
        for a, b in _ranges(m["weekdays"], (*path, "weekdays"), "weekday", e, _named(WEEKDAYS, 0), 0, 6):
            days.update(range(a, b + 1))
        weekdays = frozenset(days)
    months = None
    if "months" in m:
        ms: set[int] = set()
        for a, b in _ranges(m["months"], (*path, "months"), "month", e, _named(MONTHS, 1), 1, 12):
            ms.update(range(a, b + 1))
        months = frozenset(ms)
    dom = None
    if "days_of_month" in m:
        dom = tuple(_ranges(m["days_of_month"], (*path, "days_of_month"), "day of month", e, _int, -31, 31))
        for i, (a, b) in enumerate(dom):
            if a == 0 or b == 0 or (a < 0) != (b < 0):
                e((*path, "days_of_month", i), "days of month are 1..31 or -31..-1 (from the end); a range "
                                                "cannot mix the two")
        if n_errors[0] == 0 and not _possible(dom, months):
            e((*path, "days_of_month"), "these days of month never occur in the months given: the window is empty")
    years = None
    if "years" in m:
        years = tuple(_ranges(m["years"], (*path, "years"), "year", e, _int, 1970, 9999))
    location = m.get("location", "UTC")
    try:
        ZoneInfo(str(location))
    except (ZoneInfoNotFoundError, ValueError):
        e((*path, "location"), f"unknown location {location!r} (an IANA zone such as Europe/Amsterdam)")
    if n_errors[0]:
        return None
    return Interval(tuple(times), weekdays, dom, months, years, str(location))


def _possible(dom: tuple[tuple[int, int], ...], months: frozenset[int] | None) -> bool:
    """Can some (month, day) satisfy ``days_of_month``? Months of 28..31 days (February leap or not)."""
    for month in sorted(months) if months is not None else range(1, 13):
        for last in {_MAX_DAYS[month - 1], 28} if month == 2 else {_MAX_DAYS[month - 1]}:
            if any(max(1, _day_in(a, last)) <= min(last, _day_in(b, last)) for a, b in dom):
                return True
    return False
