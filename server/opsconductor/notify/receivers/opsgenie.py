"""Opsgenie Alert API v2: create, then acknowledge / add note / close by ``alias``.

Opsgenie de-duplicates creates on the alias of an open alert, so a retried create never opens
a second alert; the follow-ups address the alert by alias (``identifierType=alias``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from opsconductor.notify.receivers.base import BaseSender, Delivery, Item, Result, unavailable
from opsconductor.notify.secrets import SecretUnavailable

DEFAULT_URL = "https://api.opsgenie.com"
PRIORITY = {"critical": "P1", "major": "P2", "minor": "P3", "warning": "P4", "info": "P5"}


def alias(item: Item) -> str:
    return f"opsconductor-{str(item.alert.get('fingerprint', ''))[:16]}-{item.alert_id}"


def build_request(
    item: Item, title: str, text: str, *, tags: list[str] | None = None, responders: list[Any] | None = None,
    priority: str | None = None,
) -> tuple[str, dict[str, Any]] | None:
    """(path, body) of the Opsgenie call for a transition; None when nothing is to be sent (pure)."""
    a = item.alert
    ref = quote(alias(item), safe="")
    actor = item.payload.get("actor") or "opsconductor"
    if item.transition in ("firing", "test"):
        body: dict[str, Any] = {
            "message": title[:130], "alias": alias(item), "description": text[:15000],
            "priority": priority or PRIORITY.get(str(a.get("severity")), "P3"), "source": "OpsConductor",
            "entity": str(a.get("resource"))[:512], "tags": [*(tags or []), str(a.get("event"))][:20],
            "details": {k: str(v) for k, v in {**(a.get("labels") or {}), "alert_id": item.alert_id,
                                                "link": item.links.get("alert", "")}.items()},
        }
        if responders:
            body["responders"] = responders
        return "/v2/alerts", body
    if item.transition == "acknowledged":
        return f"/v2/alerts/{ref}/acknowledge?identifierType=alias", {"user": actor, "source": "OpsConductor",
                                                                       "note": text[:25000]}
    if item.transition in ("resolved", "expired"):
        return f"/v2/alerts/{ref}/close?identifierType=alias", {"user": actor, "source": "OpsConductor",
                                                                 "note": f"{item.transition}: {text}"[:25000]}
    if item.transition in ("severity_changed", "unacknowledged"):
        return f"/v2/alerts/{ref}/notes?identifierType=alias", {"user": actor, "source": "OpsConductor",
                                                                 "note": f"{title}\n{text}"[:25000]}
    return None


class OpsgenieSender(BaseSender):
    async def send(self, client: httpx.AsyncClient, delivery: Delivery) -> Result:
        item = delivery.items[0]
        try:
            key = self.secret("api_key")
            base = (self.secret("url") if "url" in self.cfg.secrets else DEFAULT_URL).rstrip("/")
        except SecretUnavailable as exc:
            return unavailable(exc)
        title, text = self.texts(item, delivery)
        req = build_request(item, title, text, tags=self.opt("tags"), responders=self.opt("responders"),
                            priority=self.opt("priority"))
        if req is None:
            return Result(True)
        path, body = req
        result, _ = await self.request(client, "POST", base + path, json_body=body,
                                       headers={"Authorization": f"GenieKey {key}"})
        result.external[item.alert_id] = alias(item)
        return result
