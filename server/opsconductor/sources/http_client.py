"""The one HTTP client: a shared httpx.AsyncClient behind a concurrency limit.

Errors never include the query string (APIs such as PRTG take tokens there).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import httpx

from opsconductor.errors import AuthFailed, ErrorAnswer, SourceError, Unreachable


def redact(url: httpx.URL | str) -> str:
    u = httpx.URL(str(url))
    return str(u.copy_with(query=None, userinfo=b"")) + ("?…" if u.query else "")


class RedactUrls(logging.Filter):
    """httpx logs every request URL at INFO; PRTG-style APIs carry tokens in the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


def install_log_redaction() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactUrls) for f in logger.filters):
        logger.addFilter(RedactUrls())


class HttpClient:
    def __init__(self, *, concurrency: int = 100, verify: bool | str = True):
        self._limit = asyncio.Semaphore(concurrency)
        self._suspect_limit = asyncio.Semaphore(max(2, concurrency // 4))
        install_log_redaction()
        self._client = httpx.AsyncClient(verify=verify, follow_redirects=False,
                                         limits=httpx.Limits(max_connections=concurrency))

    async def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                      params: Mapping[str, Any] | None = None, json: Any = None, auth: Any = None,
                      timeout: float = 10.0, suspect: bool = False) -> httpx.Response:  # noqa: ASYNC109
        async with self._suspect_limit if suspect else self._limit:
            try:
                # No params (not even {}): httpx would replace the URL's own query with them.
                resp = await self._client.request(method, url, headers=headers, params=params or None,
                                                  json=json, auth=auth, timeout=timeout)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout, httpx.PoolTimeout) as exc:
                raise Unreachable(f"HTTP {method} {redact(url)}: {type(exc).__name__}") from None
            except httpx.HTTPError as exc:
                raise SourceError(f"HTTP {method} {redact(url)}: {type(exc).__name__}") from None
        if resp.status_code >= 400:
            msg = f"HTTP {method} {redact(resp.request.url)} answered {resp.status_code}"
            if resp.status_code in (401, 403):
                raise AuthFailed(msg)
            raise ErrorAnswer(msg, "http_error")
        return resp

    async def close(self) -> None:
        await self._client.aclose()
