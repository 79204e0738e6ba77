"""Response shapes of the alert API: a row is never the API, these functions are."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opsconductor.store.lifecycle import Row

ALERT_FIELDS = (
    "id", "fingerprint", "resource", "component", "event", "severity", "previous_severity", "status",
    "summary", "value", "labels", "source", "first_seen", "last_seen", "duplicate_count", "acknowledged_by",
    "acknowledged_at", "resolved_at", "suppressed_reason", "rule_id", "ruleset_version", "timeout", "expires_at",
    "updated_at", "parent_id",
)
HISTORY_FIELDS = ("id", "at", "kind", "status", "severity", "previous_status", "previous_severity", "text",
                  "actor", "event_id")


def _json(v: Any) -> Any:
    return v.isoformat().replace("+00:00", "Z") if isinstance(v, datetime) else v


def alert_view(row: Row) -> dict[str, Any]:
    return {k: _json(row.get(k)) for k in ALERT_FIELDS}


def history_view(row: Row) -> dict[str, Any]:
    return {k: _json(row.get(k)) for k in HISTORY_FIELDS}
