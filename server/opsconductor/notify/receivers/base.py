"""What every receiver shares: the delivery it gets, the result it returns, and HTTP classification.

A receiver builds its request(s) with pure functions, sends them through the worker's
one shared ``httpx.AsyncClient`` and turns the answer into a :class:`Result`:
2xx done; 408, 429 and 5xx (and network errors, timeouts) retried, honouring
``Retry-After``; any other 4xx is final (retrying cannot fix a bad request).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

from opsconductor.notify.config import ReceiverConfig
from opsconductor.notify.secrets import SecretUnavailable, redact
from opsconductor.notify.templates import Renderer, alert_context

USER_AGENT = "OpsConductor-Notify/1"
RETRYABLE = frozenset({408, 425, 429})


@dataclass
class Item:
    """One queued notification: the alert snapshot at the transition, plus the receiver's reference."""

    id: int
    alert_id: int
    transition: str
    idem_key: str
    payload: dict[str, Any]
    ext_ref: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    group_key: str = ""
    # how far earlier attempts got (multi-step receivers): steps done, and steps *sent* whose answer never came
    progress: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1

    @property
    def alert(self) -> dict[str, Any]:
        a: dict[str, Any] = self.payload["alert"]
        return a


@dataclass
class Delivery:
    """What one send covers: one item, or a group of items for chat receivers."""

    items: list[Item]
    idem_key: str
    group_key: str
    # durably record an item's progress *before* a step that cannot be repeated blindly (set by the worker)
    checkpoint: Callable[[Item], Awaitable[None]] | None = None
    rendered: dict[int, str] = field(default_factory=dict)  # item id -> the title sent (the audit's summary)

    async def save(self, item: Item) -> None:
        if self.checkpoint is not None:
            await self.checkpoint(item)


@dataclass
class Result:
    ok: bool
    retry: bool = True
    retry_after: float | None = None
    status_code: int | None = None
    error: str | None = None
    ext_ref: dict[int, dict[str, Any]] = field(default_factory=dict)  # alert_id -> reference updates
    external: dict[int, str] = field(default_factory=dict)  # alert_id -> the id the service knows it by
    unreachable: bool = False  # no HTTP answer at all (network error, timeout): the receiver may be down


class Sender(Protocol):
    cfg: ReceiverConfig
    uses_ref: bool  # needs the stored reference (issue key, sys_id, thread ts)
    uses_history: bool  # its templates read the alert history

    @property
    def batchable(self) -> bool: ...

    @property
    def max_batch(self) -> int: ...

    async def send(self, client: httpx.AsyncClient, delivery: Delivery) -> Result: ...

    def secret_values(self) -> list[str]: ...


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify(resp: httpx.Response, secrets: list[str] | None = None) -> Result:
    """Turn an HTTP answer into a Result; the body is redacted *then* shortened (a cut secret would escape)."""
    if 200 <= resp.status_code < 300:
        return Result(True, status_code=resp.status_code)
    retry = resp.status_code in RETRYABLE or resp.status_code >= 500
    body = redact(resp.text[:20_000], secrets or [])[:300].replace("\n", " ")
    return Result(False, retry=retry, retry_after=retry_after(resp.headers.get("Retry-After")),
                  status_code=resp.status_code, error=f"HTTP {resp.status_code}: {body}")


class BaseSender:
    """Shared plumbing: secrets, templates, a guarded request."""

    batchable = False
    uses_ref = False
    max_batch = 1

    def __init__(self, cfg: ReceiverConfig, renderer: Renderer | None = None):
        self.cfg = cfg
        self.renderer = renderer or Renderer(cfg.templates)
        self.uses_history = any("history" in t for t in cfg.templates.values())

    def secret(self, name: str) -> str:
        return self.cfg.secrets[name].resolve()

    def opt(self, name: str, default: Any = None) -> Any:
        return self.cfg.options.get(name, default)

    def secret_values(self) -> list[str]:
        out: list[str] = []
        for ref in [*self.cfg.secrets.values(), *self.cfg.headers.values()]:
            with contextlib.suppress(SecretUnavailable):
                out.append(ref.resolve())
        return out

    def texts(self, item: Item, delivery: Delivery | None = None) -> tuple[str, str]:
        ctx = alert_context(item.alert, item.transition, history=item.history, links=item.links,
                            actor=item.payload.get("actor"), note=item.payload.get("note"), receiver=self.cfg.name)
        title, text = self.renderer.render("title", ctx), self.renderer.render("text", ctx)
        if delivery is not None:
            delivery.rendered[item.id] = title
        return title, text

    async def request(self, client: httpx.AsyncClient, method: str, url: str, *, json_body: Any = None,
                      content: bytes | None = None, headers: Mapping[str, str] | None = None,
                      auth: tuple[str, str] | None = None) -> tuple[Result, httpx.Response | None]:
        """One HTTP request with the receiver's timeout; errors come back redacted, never raised."""
        hdrs = {"User-Agent": USER_AGENT, **(headers or {})}
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":"), default=str).encode()
            hdrs.setdefault("Content-Type", "application/json")
        try:
            resp = await client.request(method, url, content=content, headers=hdrs, auth=auth,
                                        timeout=self.cfg.timeout)
        except httpx.TimeoutException as exc:
            return Result(False, error=f"timeout after {self.cfg.timeout:g}s ({type(exc).__name__})",
                          unreachable=True), None
        except httpx.HTTPError as exc:
            msg = redact(f"{type(exc).__name__}: {exc}", self.secret_values())
            return Result(False, error=msg[:500], unreachable=True), None
        return classify(resp, self.secret_values()), resp


def unavailable(exc: SecretUnavailable) -> Result:
    """A missing secret is a configuration problem: not retried."""
    return Result(False, retry=False, error=f"secret unavailable: {exc}")
