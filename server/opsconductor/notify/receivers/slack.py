"""Slack: an incoming webhook (``url``) or the Web API (``token`` + ``channel``) with threads.

Incoming webhooks cannot thread, so every transition is a message. With a bot token the
firing is posted with ``chat.postMessage``; its ``ts`` is remembered and every later
transition is a reply in that thread, while ``chat.update`` refreshes the original message.
With ``inbound_secret`` (the Slack app's signing secret) the message of an open alert carries
Ack and Resolve buttons; Slack posts the click to ``/api/v1/inbound/<receiver>`` (two-way sync).
"""

from __future__ import annotations

from typing import Any

import httpx

from opsconductor.notify.receivers.base import BaseSender, Delivery, Item, Result, retry_after, unavailable
from opsconductor.notify.receivers.chat import color, facts
from opsconductor.notify.secrets import SecretUnavailable

DEFAULT_API = "https://slack.com/api"
RETRYABLE_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout"})


def item_blocks(item: Item, title: str, text: str) -> list[dict[str, Any]]:
    """Block Kit blocks for one notification (pure)."""
    fields = [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in facts(item)][:10]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000] or " "}, "fields": fields},
    ]
    if item.links.get("alert"):
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"<{item.links['alert']}|Alert {item.alert_id}> · {item.transition}"}]})
    return blocks


def alert_ref(item: Item) -> str:
    """The key a button click names the alert by (the same form as PagerDuty's dedup_key)."""
    return f"opsconductor-{str(item.alert.get('fingerprint', ''))[:16]}-{item.alert_id}"


def buttons(item: Item) -> dict[str, Any]:
    """Ack / Resolve buttons for an open alert (pure); the action ids are what the inbound endpoint reads."""
    ref = alert_ref(item)
    elements: list[dict[str, Any]] = []
    if item.alert.get("status") != "acknowledged":
        elements.append({"type": "button", "action_id": "oc_ack", "value": ref,
                         "text": {"type": "plain_text", "text": "Ack"}})
    elements.append({"type": "button", "action_id": "oc_resolve", "value": ref, "style": "danger",
                     "text": {"type": "plain_text", "text": "Resolve"}})
    return {"type": "actions", "block_id": f"oc-{item.alert_id}", "elements": elements}


def build_message(items: list[tuple[Item, str, str]], *, channel: str | None = None,
                  username: str | None = None, thread_ts: str | None = None,
                  interactive: bool = False) -> dict[str, Any]:
    """A Slack message for one or more notifications (pure); ``text`` is the notification fallback."""
    blocks: list[dict[str, Any]] = []
    for i, (item, title, text) in enumerate(items):
        if i:
            blocks.append({"type": "divider"})
        blocks.extend(item_blocks(item, title, text))
        if interactive and item.alert.get("status") in ("active", "acknowledged") \
                and item.transition not in ("resolved", "expired"):
            blocks.append(buttons(item))
    msg: dict[str, Any] = {
        "text": items[0][1] if len(items) == 1 else f"{len(items)} alerts: " + "; ".join(t for _, t, _ in items),
        "blocks": blocks[:50],
        "attachments": [{"color": color(items[0][0]), "fallback": items[0][1]}] if len(items) == 1 else [],
    }
    if channel:
        msg["channel"] = channel
    if username:
        msg["username"] = username
    if thread_ts:
        msg["thread_ts"] = thread_ts
    return msg


def api_result(resp: httpx.Response) -> Result:
    """Slack's Web API answers 200 with ``{"ok": false, "error": ...}`` on failure."""
    try:
        data = resp.json()
    except ValueError:
        return Result(False, error="Slack API returned non-JSON", status_code=resp.status_code)
    if data.get("ok"):
        return Result(True, status_code=resp.status_code)
    err = str(data.get("error", "unknown_error"))
    return Result(False, retry=err in RETRYABLE_ERRORS, retry_after=retry_after(resp.headers.get("Retry-After")),
                  status_code=resp.status_code, error=f"Slack API error: {err}")


class SlackSender(BaseSender):
    uses_ref = True  # the thread ts (Web API mode)
    @property
    def batchable(self) -> bool:  # type: ignore[override]
        return "token" not in self.cfg.secrets

    async def send(self, client: httpx.AsyncClient, delivery: Delivery) -> Result:
        try:
            if "token" in self.cfg.secrets:
                return await self._api(client, delivery, self.secret("token"))
            url = self.secret("url")
        except SecretUnavailable as exc:
            return unavailable(exc)
        items = [(i, *self.texts(i, delivery)) for i in delivery.items]
        msg = build_message(items, channel=self.opt("channel"), username=self.opt("username"))
        result, _ = await self.request(client, "POST", url, json_body=msg)
        return result

    async def _api(self, client: httpx.AsyncClient, delivery: Delivery, token: str) -> Result:
        item = delivery.items[0]
        base = str(self.opt("api_url", DEFAULT_API)).rstrip("/")
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8"}
        title, text = self.texts(item, delivery)
        ts = item.ext_ref.get("ts")
        channel = item.ext_ref.get("channel") or self.opt("channel")
        interactive = "inbound_secret" in self.cfg.secrets
        msg = build_message([(item, title, text)], channel=channel, username=self.opt("username"), thread_ts=ts,
                            interactive=interactive and ts is None)
        result, resp = await self.request(client, "POST", f"{base}/chat.postMessage", json_body=msg, headers=headers)
        if resp is None or not result.ok:
            return result
        result = api_result(resp)
        if not result.ok:
            return result
        if ts is None:
            data = resp.json()
            result.ext_ref[item.alert_id] = {"ts": data.get("ts"), "channel": data.get("channel", channel)}
            result.external[item.alert_id] = str(data.get("ts"))
            return result
        result.external[item.alert_id] = str(ts)
        # refresh the thread's first message so the channel shows the current state (and the buttons left)
        update = build_message([(item, title, text)], channel=channel, interactive=interactive)
        update["ts"] = ts
        upd, resp2 = await self.request(client, "POST", f"{base}/chat.update", json_body=update, headers=headers)
        if resp2 is not None and upd.ok and not api_result(resp2).ok:
            pass  # the thread reply is the notification; a failed refresh is cosmetic
        return result
