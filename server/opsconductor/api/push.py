"""Pushed payloads: Alertmanager's ``POST /api/v2/alerts`` and ``POST /api/v1/webhooks/{addon}``.

Both need an API key with the ``write`` scope, sent as ``Authorization: Bearer <key>``;
Prometheus does that with ``authorization: {credentials: <key>}`` (or
``credentials_file``) in its ``alertmanagers:`` entry, Alertmanager with
``http_config: {authorization: {credentials: ...}}``, Grafana with the webhook contact
point's "Authorization Header" settings. A payload is translated by the addon's source
all-or-nothing: any bad item -> 422 problem body listing every bad item, nothing stored.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.params import FromPath

from opsconductor.api.events import parse_json_body
from opsconductor.errors import Unavailable
from opsconductor.runtime import Runtime
from opsconductor.sources.webhook import WebhookSpec
from opsconductor.sources.webhook_catalog import PushCatalog


def catalog_of(rt: Runtime) -> PushCatalog:
    cat = rt.push
    if not isinstance(cat, PushCatalog):
        raise Unavailable("pushed sources are not installed in this server")
    return cat


async def _deliver(rt: Runtime, spec: WebhookSpec, request: Request[Any, Any, Any], *,
                   postable: bool = False) -> dict[str, Any]:
    payload = parse_json_body(await request.body())
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
    return {"accepted": len(ids), "ids": ids, "addon": spec.addon, "source": spec.name}


@post("/api/v2/alerts", opt={"scope": "write"}, status_code=200, tags=["push"])
async def post_alertmanager_alerts(request: Request[Any, Any, Any], state: State) -> Response[dict[str, Any]]:
    """Alertmanager API v2 ``postableAlerts``: lets a Prometheus use OpsConductor as its Alertmanager."""
    rt: Runtime = state.runtime
    body = await _deliver(rt, catalog_of(rt).alertmanager(), request, postable=True)
    return Response(body, status_code=200)


@post("/api/v1/webhooks/{addon:str}", opt={"scope": "write"}, status_code=202, tags=["push"])
async def post_webhook(request: Request[Any, Any, Any], state: State, addon: FromPath[str]) -> Response[dict[str, Any]]:
    """A payload for the addon's (only) webhook source; 202 once its events are durably stored."""
    rt: Runtime = state.runtime
    body = await _deliver(rt, catalog_of(rt).webhook(addon), request)
    return Response(body, status_code=202)


@post("/api/v1/webhooks/{addon:str}/{source:str}", opt={"scope": "write"}, status_code=202, tags=["push"])
async def post_webhook_source(
    request: Request[Any, Any, Any], state: State, addon: FromPath[str], source: FromPath[str]
) -> Response[dict[str, Any]]:
    """A payload for one named webhook source of an addon with several."""
    rt: Runtime = state.runtime
    body = await _deliver(rt, catalog_of(rt).webhook(addon, source), request)
    return Response(body, status_code=202)


ROUTES = [post_alertmanager_alerts, post_webhook, post_webhook_source]
