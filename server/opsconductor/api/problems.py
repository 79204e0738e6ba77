"""RFC 9457 problem details for every error, mapped once for the whole app."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException

from opsconductor.api.am_errors import alertmanager_error, wants_alertmanager_form
from opsconductor.api.contract import PROBLEM_MEDIA_TYPE
from opsconductor.api.params import TOO_DEEP
from opsconductor.errors import (
    AuthError,
    ConfigError,
    ConfigErrors,
    InputError,
    OpsConductorError,
    Unavailable,
    ValidationFailed,
)

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://opsconductor.dev/problems/"


def problem(request: Request[Any, Any, Any], status: int, title: str, detail: str, **extra: Any) -> Response[Any]:
    slug = title.lower().replace(" ", "-")
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail,
            "instance": request.url.path, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if wants_alertmanager_form(request):  # amtool & co. on /api/v2 parse only Alertmanager's form
        return alertmanager_error(status, detail, headers, extra.get("errors"))
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _handle_ours(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, ValidationFailed):
        return problem(request, exc.status_code, exc.title, exc.detail, errors=[p.as_dict() for p in exc.problems])
    if isinstance(exc, InputError):
        return problem(request, exc.status_code, exc.title, exc.detail)
    if isinstance(exc, AuthError):
        return problem(request, exc.status_code, exc.title, str(exc))
    if isinstance(exc, Unavailable):
        return problem(request, 503, exc.title, str(exc))
    if isinstance(exc, ConfigErrors):
        return problem(request, 422, "Invalid configuration", str(exc),
                       errors=[{"location": str(e.location), "message": e.message} for e in exc.errors])
    if isinstance(exc, ConfigError):
        return problem(request, 422, "Invalid configuration", str(exc),
                       errors=[{"location": str(exc.location), "message": exc.message}])
    log.error("unexpected application error: %s", exc)
    return problem(request, 500, "Internal server error", "unexpected error; see the server log")


def _handle_http(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, HTTPException)
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        extra["errors"] = [
            {"field": e.get("key") or e.get("source", ""), "message": e.get("message", "")}
            for e in exc.extra if isinstance(e, dict)
        ]
        return problem(request, 400, "Bad request", str(exc.detail), **extra)
    titles = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
              405: "Method not allowed", 413: "Content too large", 415: "Unsupported media type",
              429: "Too many requests", 503: "Service unavailable"}
    status = exc.status_code
    detail = str(exc.detail)
    if detail.startswith("JSON is malformed"):  # Litestar decoding a typed body
        detail = f"malformed JSON: {detail}"
    return problem(request, status, titles.get(status, "Error"), detail)


def _handle_serialization(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # Raised while Litestar decodes a typed body: the JSON itself is malformed.
    return problem(request, 400, "Bad request", f"malformed JSON: {exc}")


def _handle_recursion(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # Only input drives recursion this deep (decoding or validating a nested body): the caller's fault.
    return problem(request, 400, "Bad request", TOO_DEEP)


def _handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(request, 500, "Internal server error", "unexpected error; see the server log")


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    OpsConductorError: _handle_ours,
    HTTPException: _handle_http,
    SerializationException: _handle_serialization,
    RecursionError: _handle_recursion,
    Exception: _handle_unexpected,
}
