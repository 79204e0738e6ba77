"""The HTTP contract's shared parts: the problem body, the error responses a route can give, bodies
described by a JSON Schema, and the OpenAPI config (bearer security scheme, component schemas).

A route declares its contract in its signature and decorator (see docs/api.md, "Adding a route"):

    @post("/api/v1/things", opt={"scope": "write"}, status_code=201, responses=errors(404, 409))
    async def create_thing(state: State, data: JSONBody[ThingCreate]) -> ThingView: ...

``data`` is a msgspec Struct (Litestar decodes and validates it: a 400 problem on mismatch), the return
type a Struct (a component schema and the typed 2xx body), ``errors`` the problem responses beyond the
ones every authenticated route can give (400, 401, 403, 503).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import (
    Components,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Reference,
    Schema,
    SecurityScheme,
)
from litestar.params import Body

from opsconductor import __version__
from opsconductor.model.event import NormalizedEvent
from opsconductor.sources.inventory import TARGET_SCHEMA

PROBLEM_MEDIA_TYPE = "application/problem+json"
REF = "#/components/schemas/{model}"
BEARER = "bearer"


class FieldError(msgspec.Struct, omit_defaults=True):
    """One invalid field; ``index`` is the item's position when the body was an array."""

    field: str
    message: str
    index: int | None = None


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details, the body of every 4xx/5xx answer."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldError] | None = None


class NoBody(msgspec.Struct, forbid_unknown_fields=True):
    """An action without parameters: send no body, or ``{}``."""


_WHY = {
    400: "Malformed request: bad JSON, parameter or body shape",
    401: "Missing, invalid or revoked API key",
    403: "The API key's scope does not allow this",
    404: "No such object",
    409: "Conflicts with the object's current state",
    413: "Request body larger than max_body_bytes",
    422: "The request is well-formed but invalid; errors lists every bad field",
    503: "A dependency (database, rules engine, stage) is unavailable; safe to retry",
}
_ALWAYS = (400, 401, 403, 503)


def errors(*extra: int, public: bool = False) -> dict[int, ResponseSpec]:
    """The problem responses of a route: 400/401/403/503 (400/503 if public) plus ``extra``."""
    codes = sorted({*((400, 503) if public else _ALWAYS), *extra})
    return {c: ResponseSpec(data_container=Problem, description=_WHY[c], media_type=PROBLEM_MEDIA_TYPE)
            for c in codes}


def json_body(description: str, ref: str, *, array_of_too: bool = False) -> Any:
    """A ``data: Any`` body described by component ``ref`` but checked by the handler's own validator.

    For bodies validated elsewhere (pydantic for events, jsonschema for targets), so the document
    still says exactly what is accepted while the handler keeps its all-or-nothing error lists.
    """
    one = Reference(ref=REF.format(model=ref))
    if array_of_too:
        return Body(description=description,
                    schema_extra={"one_of": [one, Schema(type=OpenAPIType.ARRAY, items=one, min_items=1)]})
    return Body(description=description, schema_extra={"all_of": [one]})


def raw_components() -> dict[str, Any]:
    """Bodies checked by their own validators, as component schemas: the normalized event and its enums
    (as in schemas/event.schema.json) and a poll target (as in the inventory file)."""
    schema = NormalizedEvent.model_json_schema(ref_template=REF)
    defs = schema.pop("$defs", {})
    return {"Event": schema, **defs, "TargetSpec": TARGET_SCHEMA}


def openapi_config(path: str = "/schema", render_plugins: list[Any] | None = None) -> OpenAPIConfig:
    """The document's frame: title, bearer scheme; ``render_plugins`` serve it (the console ships offline ones)."""
    return OpenAPIConfig(
        render_plugins=render_plugins or [],
        title="OpsConductor",
        version=__version__,
        path=path,
        description="Alert correlation server for network operations. Errors are RFC 9457 problem bodies "
                    "(application/problem+json). Send an API key as 'Authorization: Bearer <key>'.",
        components=Components(
            security_schemes={BEARER: SecurityScheme(type="http", scheme="bearer",
                                                     description="An API key: opsconductor keys create")},
        ),
        security=[{BEARER: []}],
        use_handler_docstrings=True,
    )


def finish_document(app: Litestar) -> None:
    """What no single route declares: json_body's component schemas (Litestar replaces the config's
    components) and the 413 every route with a body can give (max_body_bytes applies to all)."""
    doc = app.openapi_schema  # built once, here; /schema serves this object
    doc.components.schemas = {**raw_components(), **(doc.components.schemas or {})}
    too_large = OpenAPIResponse(description=_WHY[413], content={
        PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Reference(ref=REF.format(model="Problem")))})
    for item in (doc.paths or {}).values():
        for op in (item.post, item.put, item.patch):
            if op is not None and op.request_body is not None and op.responses is not None:
                op.responses.setdefault("413", too_large)


PUBLIC_SECURITY: list[dict[str, list[str]]] = [{}]  # health, readiness: no key needed
