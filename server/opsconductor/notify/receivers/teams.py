"""Microsoft Teams: a Workflows (Power Automate) webhook carrying an Adaptive Card."""

from __future__ import annotations

from typing import Any

import httpx

from opsconductor.notify.receivers.base import BaseSender, Delivery, Item, Result, unavailable
from opsconductor.notify.receivers.chat import facts
from opsconductor.notify.secrets import SecretUnavailable

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
STYLE = {"critical": "attention", "major": "attention", "minor": "warning", "warning": "warning"}


def card_body(item: Item, title: str, text: str) -> list[dict[str, Any]]:
    style = "good" if item.transition in ("resolved", "expired") else STYLE.get(str(item.alert.get("severity")),
                                                                               "default")
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True,
         "color": style if style != "default" else "Default", "style": "heading"},
        {"type": "TextBlock", "text": text, "wrap": True},
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts(item)]},
    ]
    return body


def build_message(items: list[tuple[Item, str, str]]) -> dict[str, Any]:
    """The Workflows webhook body: a message with one Adaptive Card attachment (pure)."""
    body: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    for item, title, text in items:
        part = card_body(item, title, text)
        if body:
            part[0]["separator"] = True
        body.extend(part)
        if item.links.get("alert") and len(actions) < 5:
            actions.append({"type": "Action.OpenUrl", "title": f"Alert {item.alert_id}", "url": item.links["alert"]})
    card: dict[str, Any] = {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": "1.4", "body": body}
    if actions:
        card["actions"] = actions
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


class TeamsSender(BaseSender):
    batchable = True

    async def send(self, client: httpx.AsyncClient, delivery: Delivery) -> Result:
        try:
            url = self.secret("url")
        except SecretUnavailable as exc:
            return unavailable(exc)
        msg = build_message([(i, *self.texts(i, delivery)) for i in delivery.items])
        result, _ = await self.request(client, "POST", url, json_body=msg)
        return result
