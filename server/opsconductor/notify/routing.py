"""Which receivers hear about an alert, and in which group (pure).

Alertmanager's traversal: a route that matches tries its children in order; the
first matching child wins unless it says ``continue: true``; a route none of whose
children match handles the alert itself. Time windows decide whether a matched
route sends (``active_time``) or stays quiet (``mute_time``); a muted route still
stops the traversal, as in Alertmanager.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opsconductor.notify.config import GROUP_BY_ALERT, Route
from opsconductor.notify.matchers import field_value


@dataclass(frozen=True, slots=True)
class Match:
    route: Route
    muted: bool


def _walk(route: Route, alert: Mapping[str, Any], now: datetime) -> list[Match]:
    if not route.match(alert):
        return []
    out: list[Match] = []
    for child in route.routes:
        found = _walk(child, alert, now)
        if found:
            out.extend(found)
            if not child.continue_:
                break
    if not out:
        out.append(Match(route, is_muted(route, now)))
    return out


def is_muted(route: Route, now: datetime) -> bool:
    if route.active_time and not any(w.contains(now) for w in route.active_time):
        return True
    return any(w.contains(now) for w in route.mute_time)


def match_routes(root: Route | None, alert: Mapping[str, Any], now: datetime) -> list[Route]:
    """The routes that send this alert now, at most one per receiver (first wins)."""
    if root is None:
        return []
    seen: set[str] = set()
    out: list[Route] = []
    for m in _walk(root, alert, now):
        if m.muted or m.route.receiver in seen:
            continue
        seen.add(m.route.receiver)
        out.append(m.route)
    return out


def group_key(route: Route, alert: Mapping[str, Any]) -> str:
    """The group an alert's notifications join on one route; bounded length for the index."""
    if route.group_by == (GROUP_BY_ALERT,):
        labels = f"alert={alert['id']}"
    else:
        labels = ",".join(f"{f}={field_value(alert, f)}" for f in route.group_by)
    raw = f"{route.receiver}|{route.id}|{labels}"
    if len(raw) <= 200:
        return raw
    return f"{route.receiver[:100]}|{route.id}|{hashlib.sha256(labels.encode()).hexdigest()}"


def group_due(now: datetime, route: Route, next_flush: datetime | None, last_flush: datetime | None) -> datetime:
    """When a new notification of a group goes out, given the group's timers.

    A flush already scheduled is joined; a group that sent within ``group_interval`` waits for
    the interval; otherwise the group (new, or idle) waits ``group_wait`` to gather companions.
    """
    from datetime import timedelta

    if next_flush is not None and next_flush >= now:
        return next_flush
    if last_flush is not None and now < last_flush + timedelta(seconds=route.group_interval):
        return last_flush + timedelta(seconds=route.group_interval)
    return now + timedelta(seconds=route.group_wait)
