"""PagerDuty Events API v2: trigger / acknowledge / resolve, ``dedup_key`` = the stable alert key.

PagerDuty de-duplicates on ``dedup_key`` itself, so a retried or repeated trigger never opens
a second incident, and acknowledge/resolve find the incident without any stored state.
"""

from __future__ import annotations

from typing import Any

import httpx

from opsconductor.notify.receivers.base import BaseSender, Delivery, Item, Result, unavailable
from opsconductor.notify.secrets import SecretUnavailable

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITY = {"critical": "critical", "major": "error", "minor": "warning", "warning": "warning",
            "info": "info", "clear": "info"}
ACTIONS = {"firing": "trigger", "severity_changed": "trigger", "unacknowledged": "trigger", "repeat": "trigger",
           "acknowledged": "acknowledge", "resolved": "resolve", "expired": "resolve", "test": "trigger"}


def dedup_key(item: Item) -> str:
    """One PagerDuty alert per OpsConductor alert (a new occurrence after resolve is a new alert)."""
    return f"opsconductor-{str(item.alert.get('fingerprint', ''))[:16]}-{item.alert_id}"


def build_event(item: Item, title: str, text: str, routing_key: str, *, source: str | None = None,
                client: str | None = None) -> dict[str, Any]:
    """The Events API v2 body (pure)."""
    action = ACTIONS.get(item.transition, "trigger")
    event: dict[str, Any] = {"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key(item)}
    if action != "trigger":
        return event
    a = item.alert
    prev = item.payload.get("previous_severity")
    event["payload"] = {
        "summary": title[:1024],
        "source": source or str(a.get("resource")),
        "severity": SEVERITY.get(str(a.get("severity")), "warning"),
        "timestamp": a.get("first_seen"),
        "component": a.get("component"),
        "class": a.get("event"),
        "group": (a.get("labels") or {}).get("site"),
        "custom_details": {"text": text, "labels": a.get("labels") or {}, "value": a.get("value"),
                           "status": a.get("status"), "previous_severity": prev},
    }
    event["payload"] = {k: v for k, v in event["payload"].items() if v is not None}
    if client:
        event["client"] = client
    if item.links.get("alert"):
        event["links"] = [{"href": item.links["alert"], "text": f"OpsConductor alert {item.alert_id}"}]
    return event


class PagerDutySender(BaseSender):
    async def send(self, client: httpx.AsyncClient, delivery: Delivery) -> Result:
        item = delivery.items[0]
        try:
            key = self.secret("routing_key")
            url = self.secret("url") if "url" in self.cfg.secrets else DEFAULT_URL
        except SecretUnavailable as exc:
            return unavailable(exc)
        title, text = self.texts(item, delivery)
        body = build_event(item, title, text, key, source=self.opt("source"), client=self.opt("client", "OpsConductor"))
        result, _ = await self.request(client, "POST", url, json_body=body)
        result.external[item.alert_id] = body["dedup_key"]
        return result
