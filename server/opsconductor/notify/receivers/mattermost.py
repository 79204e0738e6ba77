"""Mattermost: an incoming webhook with Markdown text and a Slack-compatible attachment."""

from __future__ import annotations

from typing import Any

import httpx

from opsconductor.notify.receivers.base import BaseSender, Delivery, Item, Result, unavailable
from opsconductor.notify.receivers.chat import color, facts
from opsconductor.notify.secrets import SecretUnavailable


def build_message(items: list[tuple[Item, str, str]], *, channel: str | None = None,
                  username: str | None = None) -> dict[str, Any]:
    """The incoming-webhook body (pure)."""
    attachments = []
    for item, title, text in items:
        att: dict[str, Any] = {
            "fallback": title, "color": color(item), "title": title, "text": text,
            "fields": [{"short": True, "title": k, "value": v} for k, v in facts(item)],
        }
        if item.links.get("alert"):
            att["title_link"] = item.links["alert"]
        attachments.append(att)
    msg: dict[str, Any] = {"text": "\n".join(f"**{t}**" for _, t, _ in items), "attachments": attachments}
    if channel:
        msg["channel"] = channel
    if username:
        msg["username"] = username
    return msg


class MattermostSender(BaseSender):
    batchable = True

    async def send(self, client: httpx.AsyncClient, delivery: Delivery) -> Result:
        try:
            url = self.secret("url")
        except SecretUnavailable as exc:
            return unavailable(exc)
        msg = build_message([(i, *self.texts(i, delivery)) for i in delivery.items], channel=self.opt("channel"),
                            username=self.opt("username"))
        result, _ = await self.request(client, "POST", url, json_body=msg)
        return result
