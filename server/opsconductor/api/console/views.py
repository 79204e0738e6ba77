"""Pure helpers of the console: list options from the URL, grouping, ages, silence matchers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from opsconductor.errors import InputError
from opsconductor.model.alert import OPEN_STATUSES, AlertStatus
from opsconductor.model.event import Severity
from opsconductor.store.alert_queries import SORTABLE, AlertFilter, parse_label_filters

SEVERITIES = [s.value for s in Severity]
STATUSES = [s.value for s in AlertStatus]
OPEN = [s.value for s in OPEN_STATUSES]
GROUP_FIELDS = ("resource", "event", "component", "severity", "status", "source")
SORTS = [f"-{k}" for k in ("severity", "last_seen", "first_seen", "duplicate_count", "id")] + \
        [k for k in ("severity", "last_seen", "first_seen", "duplicate_count", "id")]


@dataclass(frozen=True)
class ListOptions:
    """What the alert list shows; every option lives in the URL so a view can be shared."""

    status: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    q: str = ""
    sort: str = "-severity"
    group: str = ""
    problems: list[str] = field(default_factory=list)

    def filter(self) -> AlertFilter:
        return AlertFilter(status=self.status, severity=self.severity, q=self.q or None,
                           labels=parse_label_filters(list(self.labels)))

    def query(self, **change: Any) -> str:
        """The URL query of these options with some changed (for sort links, group links)."""
        values: dict[str, Any] = {"status": list(self.status), "severity": list(self.severity),
                                  "label": list(self.labels), "q": self.q, "sort": self.sort, "group": self.group}
        values.update(change)
        pairs = [(k, x) for k, v in values.items() for x in (v if isinstance(v, list) else [v]) if x]
        return urlencode(pairs)


def list_options(params: Mapping[str, Sequence[str]]) -> ListOptions:
    """Pure: options from query parameters; unknown values are dropped and reported, never a 500."""
    problems: list[str] = []

    def pick(name: str, allowed: Sequence[str]) -> tuple[str, ...]:
        out = []
        for v in params.get(name, ()):
            for part in v.split(","):
                if not part:
                    continue
                if part in allowed:
                    out.append(part)
                else:
                    problems.append(f"unknown {name} {part!r} ignored")
        return tuple(dict.fromkeys(out))

    labels = []
    for v in params.get("label", ()):
        try:
            parse_label_filters([v])
            labels.append(v)
        except InputError as exc:
            problems.append(exc.detail)
    sort = (params.get("sort") or ["-severity"])[-1]
    if sort.lstrip("-") not in SORTABLE:
        problems.append(f"cannot sort by {sort!r}; sorted by severity")
        sort = "-severity"
    group = (params.get("group") or [""])[-1].strip()
    return ListOptions(status=pick("status", STATUSES), severity=pick("severity", SEVERITIES),
                       labels=tuple(labels), q=(params.get("q") or [""])[-1].strip()[:200], sort=sort,
                       group=group[:100], problems=problems)


def group_value(row: Mapping[str, Any], group: str) -> str:
    """The value a row is grouped under: a field name, or a label name (``labels.`` optional)."""
    labels = row.get("labels") or {}
    value = row.get(group) if group in GROUP_FIELDS else labels.get(group.removeprefix("labels."))
    return "(none)" if value in (None, "") else str(value)


def grouped(rows: Sequence[Mapping[str, Any]], group: str) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """Pure: rows in groups, in order of first appearance (which keeps the sort); one group if none."""
    if not group:
        return [("", list(rows))]
    out: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        out.setdefault(group_value(r, group), []).append(r)
    return list(out.items())


def age(since: datetime | None, now: datetime) -> str:
    """Pure: a short human age: 45s, 12m, 3h 05m, 4d 2h."""
    if since is None:
        return ""
    s = max(0, int((now - since).total_seconds()))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def severity_counts(counts: Mapping[str, Mapping[str, int]], statuses: Sequence[str] = ("active",)) -> list[
        tuple[str, int]]:
    """Pure: (severity, number) for the TV wall, most severe first, ``clear`` left out."""
    return [(s, sum(counts.get(s, {}).get(st, 0) for st in statuses)) for s in SEVERITIES if s != "clear"]
