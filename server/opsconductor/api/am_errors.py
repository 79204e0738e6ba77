"""Errors on ``/api/v2/*`` in the form Alertmanager's clients parse.

Alertmanager answers errors with a JSON string (``"bad matcher format: ..."``) as
``application/json``; its Go clients (amtool, karma, Grafana) accept only that and fail with
``no consumer: "application/problem+json"`` on anything else. So on these paths a client
whose ``Accept`` does not admit ``application/problem+json`` (amtool sends exactly
``application/json``) gets Alertmanager's form; a client that accepts it (``*/*``, curl,
browsers, no Accept header at all) keeps getting the RFC 9457 problem body.
"""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, Response

AM_PREFIX = "/api/v2/"
_ADMITS_PROBLEM = ("application/problem+json", "application/*", "*/*")


def wants_alertmanager_form(request: Request[Any, Any, Any]) -> bool:
    if not request.url.path.startswith(AM_PREFIX):
        return False
    accept = request.headers.get("accept")
    if not accept:
        return False
    ranges = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return not any(r in _ADMITS_PROBLEM for r in ranges)


def alertmanager_error(status: int, detail: str, headers: dict[str, str] | None,
                       errors: list[dict[str, Any]] | None = None) -> Response[Any]:
    """The problem's detail (and its field errors, if any) as one JSON string."""
    parts = [f"{e.get('field') or e.get('location') or ''}: {e.get('message', '')}".lstrip(": ")
             for e in (errors or [])[:20]]
    text = f"{detail} ({'; '.join(parts)})" if parts else detail
    return Response(json.dumps(text).encode(), status_code=status, media_type="application/json", headers=headers)
