"""Typed request parameters shared by every route, so bad input is refused before any handler runs.

Use these instead of bare ``int``/``datetime``/``str`` in handler signatures:

- ``IdPath``: a database id (1 .. 2^63-1); 2^63 or more would overflow BIGINT -> 400. In a query:
  ``Annotated[int | None, QueryParameter(ge=1, le=MAX_ID, schema_extra=ID_BOUNDS)]``.
- ``AwareDatetime``: RFC 3339 with an offset; a naive time is ambiguous -> 400.
- Text parameters need nothing: ``screen_request`` (an app-wide ``before_request`` hook) refuses a NUL
  anywhere in the path or query, which PostgreSQL text cannot store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

import msgspec
from litestar import Request
from litestar.params import Parameter

from opsconductor.errors import InputError

TOO_DEEP = "JSON nested too deeply (at most about 1000 levels)"
MAX_ID = 2**63 - 1  # BIGINT, the widest id column on SQLite and PostgreSQL

# schema_extra: Litestar writes le as a float (9.223372036854776e+18, i.e. 2^63); the document needs the exact int.
ID_BOUNDS: dict[str, Any] = {"minimum": 1, "maximum": MAX_ID}
IdPath = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Numeric id", schema_extra=ID_BOUNDS)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


def has_nul(text: str | bytes) -> bool:
    if isinstance(text, str):
        return "\x00" in text
    return b"\x00" in text or (b"%00" in text and b"\x00" in unquote_to_bytes(text))


def contains_nul(data: Any) -> bool:
    """Any string (key or value) in decoded JSON holding a NUL; iterative, so depth cannot hurt it."""
    stack = [data]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if "\x00" in v:
                return True
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False


async def screen_request(request: Request[Any, Any, Any]) -> None:
    """Refused before any handler: a NUL in a path, query or JSON string (PostgreSQL cannot store it),
    and an empty body where the route needs one.

    Runs before the body is decoded for the handler; the body read here is cached for it.
    """
    if has_nul(request.scope["path"]) or has_nul(request.scope.get("query_string", b"")):
        raise InputError("the path or query contains a NUL character")
    if request.method in ("POST", "PUT", "PATCH"):
        body = await request.body()
        data = request.route_handler.parsed_fn_signature.parameters.get("data")
        if data is not None and not data.has_default and not body.strip():
            raise InputError("request body is empty; send a JSON document")
        # JSON carries a NUL only as an escape; the byte scan keeps the common case free of a decode.
        if b"\\u0000" in body and contains_nul(_decode(body)):
            raise InputError("a string in the body contains a NUL character (\\u0000), which cannot be stored")


def _decode(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return None  # the handler's decoding answers that
