"""The generic webhook: a documented, versioned JSON body, signed with HMAC-SHA256.

Body (``version: 1``, see docs/notify.md)::

    {"version": 1, "receiver": "...", "group_key": "...", "idempotency_key": "...",
     "notifications": [{"id", "transition", "title", "text", "actor", "note",
                        "previous_status", "previous_severity", "alert": {...}, "links": {...}}]}

Headers: ``X-OpsConductor-Timestamp`` (unix seconds), ``X-OpsConductor-Signature``
(``v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`` when a signing secret is set) and
``Idempotency-Key`` (the same on every retry of the same notification).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from opsconductor.notify.receivers.base import BaseSender, Delivery, Result, unavailable
from opsconductor.notify.secrets import SecretUnavailable

BODY_VERSION = 1
SIGNATURE_HEADER = "X-OpsConductor-Signature"
TIMESTAMP_HEADER = "X-OpsConductor-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def build_body(receiver: str, delivery: Delivery, texts: list[tuple[str, str]]) -> dict[str, Any]:
    """The JSON body for a delivery (pure)."""
    return {
        "version": BODY_VERSION,
        "receiver": receiver,
        "group_key": delivery.group_key,
        "idempotency_key": delivery.idem_key,
        "notifications": [
            {
                "id": item.id,
                "transition": item.transition,
                "title": title,
                "text": text,
                "actor": item.payload.get("actor"),
                "note": item.payload.get("note"),
                "previous_status": item.payload.get("previous_status"),
                "previous_severity": item.payload.get("previous_severity"),
                "alert": item.alert,
                "links": item.links,
                "group_key": item.group_key or delivery.group_key,
            }
            for item, (title, text) in zip(delivery.items, texts, strict=True)
        ],
    }


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=`` + hex HMAC-SHA256 over ``b"<timestamp>." + body``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, now: float, tolerance: float = 300) -> bool:
    """What a receiving service does: check the signature and refuse stale timestamps (replays)."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


class WebhookSender(BaseSender):
    batchable = True

    @property
    def max_batch(self) -> int:  # type: ignore[override]
        """``batch_max``: due notifications of several groups may share one request (default: one group)."""
        return int(self.opt("batch_max", 1))

    async def send(self, client: httpx.AsyncClient, delivery: Delivery) -> Result:
        try:
            url = self.secret("url")
            key = self.secret("signing_secret") if "signing_secret" in self.cfg.secrets else None
            headers = {name: ref.resolve() for name, ref in self.cfg.headers.items()}
        except SecretUnavailable as exc:
            return unavailable(exc)
        body = json.dumps(build_body(self.cfg.name, delivery, [self.texts(i, delivery) for i in delivery.items]),
                          separators=(",", ":"), default=str).encode()
        ts = int(time.time())
        headers.update({"Content-Type": "application/json", TIMESTAMP_HEADER: str(ts),
                        IDEMPOTENCY_HEADER: delivery.idem_key})
        if key:
            headers[SIGNATURE_HEADER] = sign(key, ts, body)
        result, _ = await self.request(client, "POST", url, content=body, headers=headers)
        return result
