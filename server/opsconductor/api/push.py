"""Pushed payloads: Alertmanager's ``POST /api/v2/alerts`` and ``POST /api/v1/webhooks/{addon}``.

Both need an API key with the ``write`` scope, sent as ``Authorization: Bearer <key>``;
Prometheus does that with ``authorization: {credentials: <key>}`` (or
``credentials_file``) in its ``alertmanagers:`` entry, Alertmanager with
``http_config: {authorization: {credentials: ...}}``, Grafana with the webhook contact
point's "Authorization Header" settings. A payload is translated by the addon's source
all-or-nothing: any bad item -> 422 problem body listing every bad item, nothing stored.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import post
from litestar.datastructures import State
from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Schema
from litestar.params import Body, FromPath

from opsconductor.api.contract import errors
from opsconductor.errors import Unavailable
from opsconductor.runtime import Runtime
from opsconductor.sources.webhook import WebhookSpec
from opsconductor.sources.webhook_catalog import PushCatalog


def catalog_of(rt: Runtime) -> PushCatalog:
    cat = rt.push
    if not isinstance(cat, PushCatalog):
        raise Unavailable("pushed sources are not installed in this server")
    return cat


class PushAccepted(msgspec.Struct):
    """Ids of the stored events the payload became, and the addon source that translated it."""

    accepted: int
    ids: list[int]
    addon: str
    source: str


_POSTABLE_ALERTS = Body(
    description="Alertmanager API v2 postableAlerts",
    schema_extra={"type": OpenAPIType.ARRAY, "items": Schema(
        type=OpenAPIType.OBJECT, required=["labels"], properties={
            "labels": Schema(type=OpenAPIType.OBJECT, additional_properties=Schema(type=OpenAPIType.STRING)),
            "annotations": Schema(type=OpenAPIType.OBJECT, additional_properties=Schema(type=OpenAPIType.STRING)),
            "startsAt": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME),
            "endsAt": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME),
            "generatorURL": Schema(type=OpenAPIType.STRING)})})
_WEBHOOK_BODY = Body(description="The sender's JSON payload, translated by the addon's webhook source")


async def _deliver(rt: Runtime, spec: WebhookSpec, payload: Any, *, postable: bool = False) -> PushAccepted:
    metrics = rt.push_metrics
    translate = spec.translate_postable if postable else spec.translate
    try:
        events = translate(payload, rt.pipeline.clock(), max_items=rt.settings.max_events_per_request)
    except Exception:
        if metrics is not None:
            metrics.deliveries.labels(addon=spec.addon, outcome="rejected").inc()
        raise
    ids = await rt.pipeline.accept(events) if events else []
    if metrics is not None:
        metrics.deliveries.labels(addon=spec.addon, outcome="accepted").inc()
    return PushAccepted(len(ids), ids, spec.addon, spec.name)


@post("/api/v2/alerts", opt={"scope": "write"}, status_code=200, tags=["push"], responses=errors(404, 413, 422))
async def post_alertmanager_alerts(state: State, data: Annotated[Any, _POSTABLE_ALERTS]) -> PushAccepted:
    """Alertmanager API v2 ``postableAlerts``: lets a Prometheus use OpsConductor as its Alertmanager."""
    rt: Runtime = state.runtime
    return await _deliver(rt, catalog_of(rt).alertmanager(), data, postable=True)


@post("/api/v1/webhooks/{addon:str}", opt={"scope": "write"}, status_code=202, tags=["push"],
      responses=errors(404, 413, 422))
async def post_webhook(state: State, addon: FromPath[str], data: Annotated[Any, _WEBHOOK_BODY]) -> PushAccepted:
    """A payload for the addon's (only) webhook source; 202 once its events are durably stored."""
    rt: Runtime = state.runtime
    return await _deliver(rt, catalog_of(rt).webhook(addon), data)


@post("/api/v1/webhooks/{addon:str}/{source:str}", opt={"scope": "write"}, status_code=202, tags=["push"],
      responses=errors(404, 413, 422))
async def post_webhook_source(
    state: State, addon: FromPath[str], source: FromPath[str], data: Annotated[Any, _WEBHOOK_BODY]
) -> PushAccepted:
    """A payload for one named webhook source of an addon with several."""
    rt: Runtime = state.runtime
    return await _deliver(rt, catalog_of(rt).webhook(addon, source), data)


ROUTES = [post_alertmanager_alerts, post_webhook, post_webhook_source]
