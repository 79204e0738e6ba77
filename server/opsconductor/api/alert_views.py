"""Response shapes of the alert API: a row is never the API, these Structs are (and the OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from opsconductor.model.alert import AlertStatus
from opsconductor.model.event import Severity
from opsconductor.model.lifecycle import Row

# "number" covers integers too; int | float would be a oneOf that an integer matches twice.
Scalar = str | float | None


class AlertView(msgspec.Struct):
    """One alert; times are RFC 3339 UTC (``Z``)."""

    id: int
    fingerprint: str
    resource: str
    component: str | None
    event: str
    severity: Severity
    previous_severity: Severity | None
    status: AlertStatus
    summary: str | None
    value: Scalar
    labels: dict[str, str]
    source: str | None
    first_seen: str
    last_seen: str
    duplicate_count: int
    acknowledged_by: str | None
    acknowledged_at: str | None
    resolved_at: str | None
    suppressed_reason: str | None
    rule_id: str | None
    ruleset_version: str | None
    timeout: int
    expires_at: str | None
    updated_at: str
    parent_id: int | None  # the incident (correlation parent) this alert belongs to


class HistoryEntry(msgspec.Struct):
    """One change of an alert: what happened, who did it, the status/severity before and after."""

    id: int
    at: str
    kind: str
    status: AlertStatus | None
    severity: Severity | None
    previous_status: AlertStatus | None
    previous_severity: Severity | None
    text: str | None
    actor: str
    event_id: int | None


class AlertWithHistory(AlertView):
    history: list[HistoryEntry]


ALERT_FIELDS = AlertView.__struct_fields__
HISTORY_FIELDS = HistoryEntry.__struct_fields__


def _json(v: Any) -> Any:
    return v.isoformat().replace("+00:00", "Z") if isinstance(v, datetime) else v


def alert_dict(row: Row) -> dict[str, Any]:
    return {k: _json(row.get(k)) for k in ALERT_FIELDS}


# Built without conversion: the row's values already have the documented JSON types (an int value stays 1,
# not 1.0), and a page of 1000 alerts costs no validation pass.
def alert_view(row: Row) -> AlertView:
    return AlertView(**alert_dict(row))


def history_dict(entry: Row) -> dict[str, Any]:
    return {k: _json(entry.get(k)) for k in HISTORY_FIELDS}


def alert_with_history(row: Row, history: list[Row]) -> AlertWithHistory:
    return AlertWithHistory(**alert_dict(row), history=[HistoryEntry(**history_dict(h)) for h in history])
