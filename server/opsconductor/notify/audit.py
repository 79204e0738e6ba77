"""The per-alert delivery audit: one ``notification_attempts`` row per notification per attempt (pure).

What was sent (the rendered title), to which receiver and external id, when, how long it took and
what came back (status code, redacted error). The API lists them per alert, oldest first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opsconductor.notify.receivers.base import Delivery, Result, Sender

REF_KEYS = ("issue_key", "number", "sys_id", "ts")


def outcome(result: Result, too_old: bool) -> str:
    if result.ok:
        return "sent"
    return "retry" if result.retry and not too_old else "dead"


def attempt_rows(receiver: str, delivery: Delivery, result: Result, attempts: int, created: list[datetime],
                 seconds: float, now: datetime, sender: Sender | None) -> list[dict[str, Any]]:
    """The audit rows of one finished delivery (one per notification it carried)."""
    max_age = sender.cfg.max_age if sender else 0.0
    too_old = any((now - c).total_seconds() >= max_age for c in created)
    out = outcome(result, too_old)
    rows = []
    for item in delivery.items:
        ref = {**item.ext_ref, **result.ext_ref.get(item.alert_id, {})}
        external = result.external.get(item.alert_id) or next((str(ref[k]) for k in REF_KEYS if ref.get(k)), None)
        rows.append({
            "notification_id": item.id, "alert_id": item.alert_id, "receiver": receiver,
            "transition": item.transition, "at": now, "outcome": out, "status_code": result.status_code,
            "error": (result.error or "")[:2000] or None, "external_id": (external or delivery.idem_key)[:255],
            "summary": (delivery.rendered.get(item.id) or "")[:1000] or None,
            "duration_ms": int(seconds * 1000),
        })
    return rows
