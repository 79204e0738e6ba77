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
from opsconductor.api.idempotency import idempotent
from opsconductor.errors import Unavailable
from opsconductor.pipeline import InTxn
from opsconductor.runtime import Runtime
from opsconductor.sources.webhook import WebhookSpec
from opsconductor.sources.webhook_catalog import PushCatalog

CATALOG = "push"


def catalog_of(rt: Runtime) -> PushCatalog:
    cat = rt.components.get(CATALOG)
    if not isinstance(cat, PushCatalog):
        raise Unavailable("pushed sources are not installed in this server")
    return cat


async def _deliver(rt: Runtime, spec: WebhookSpec, request: Request[Any, Any, Any], *,
                   postable: bool = False, in_txn: InTxn | None = None) -> dict[str, Any]:
    payload = parse_json_body(await request.body())
    metrics = rt.components.get("push_metrics")
    translate = spec.translate_postable if postable else spec.translate
    try:
        events = translate(payload, rt.pipeline.clock(), max_items=rt.settings.max_events_per_request)
    except Exception:
        if metrics is not None:
            metrics.deliveries.labels(addon=spec.addon, outcome="rejected").inc()
        raise
    ids = await rt.pipeline.accept(events, in_txn=in_txn) if events else []
    if metrics is not None:
        metrics.deliveries.labels(addon=spec.addon, outcome="accepted").inc()
    return {"accepted": len(ids), "ids": ids, "addon": spec.addon, "source": spec.name}


@post("/api/v2/alerts", opt={"scope": "write"}, status_code=200, tags=["push"])
async def post_alertmanager_alerts(request: Request[Any, Any, Any], state: State) -> Response[dict[str, Any]]:
    """Alertmanager API v2 ``postableAlerts``: lets a Prometheus use OpsConductor as its Alertmanager."""
    rt: Runtime = state.runtime
    spec = catalog_of(rt).alertmanager()

    async def handle(in_txn: InTxn | None) -> Response[dict[str, Any]]:
        return Response(await _deliver(rt, spec, request, postable=True, in_txn=in_txn), status_code=200)

    return await idempotent(request, rt, handle)


@post("/api/v1/webhooks/{addon:str}", opt={"scope": "write"}, status_code=202, tags=["push"])
async def post_webhook(request: Request[Any, Any, Any], state: State, addon: FromPath[str]) -> Response[dict[str, Any]]:
    """A payload for the addon's (only) webhook source; 202 once its events are durably stored."""
    rt: Runtime = state.runtime
    spec = catalog_of(rt).webhook(addon)

    async def handle(in_txn: InTxn | None) -> Response[dict[str, Any]]:
        return Response(await _deliver(rt, spec, request, in_txn=in_txn), status_code=202)

    return await idempotent(request, rt, handle)


@post("/api/v1/webhooks/{addon:str}/{source:str}", opt={"scope": "write"}, status_code=202, tags=["push"])
async def post_webhook_source(
    request: Request[Any, Any, Any], state: State, addon: FromPath[str], source: FromPath[str]
) -> Response[dict[str, Any]]:
    """A payload for one named webhook source of an addon with several."""
    rt: Runtime = state.runtime
    spec = catalog_of(rt).webhook(addon, source)

    async def handle(in_txn: InTxn | None) -> Response[dict[str, Any]]:
        return Response(await _deliver(rt, spec, request, in_txn=in_txn), status_code=202)

    return await idempotent(request, rt, handle)


ROUTES = [post_alertmanager_alerts, post_webhook, post_webhook_source]
