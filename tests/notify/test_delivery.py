"""The outbox and the worker end to end through the REST API, against a local webhook consumer."""

from __future__ import annotations

import time

from tests.notify.conftest import NotifyServer, eventually
from tests.notify.support import WebhookSink, serving

CONFIG = """
receivers:
  hook:
    kind: webhook
    url: {url}/hook
    signing_secret: env:OC_TEST_HOOK_SECRET
    headers: {{X-Team: netops}}
route:
  receiver: hook
  group_by: ["..."]
  group_wait: 0s
  group_interval: 0s
  notify_on: [firing, severity_changed, acknowledged, resolved]
"""

EV = {"resource": "rtr1.ams", "event": "link_down", "component": "ge-0/0/1", "severity": "major"}


async def test_firing_ack_resolve_reach_the_webhook_signed(notify_server: NotifyServer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from opsconductor.notify.receivers.webhook import verify

    monkeypatch.setenv("OC_TEST_HOOK_SECRET", "s3cret-signing-key")
    async with serving(WebhookSink()) as sink, notify_server(CONFIG.format(url=sink.url)) as srv:
        async with srv.client(srv.write_key) as c:
            r = await c.post("/api/v1/events?wait=true", json=[EV, EV])
            alert_id = r.json()["results"][0]["alert_id"]
            await sink.wait_for(1)
            assert (await c.post(f"/api/v1/alerts/{alert_id}/ack", json={"text": "on it"})).status_code == 200
            await sink.wait_for(2)
            await c.post("/api/v1/events?wait=true", json=[{**EV, "severity": "clear"}])
            await sink.wait_for(3)

            async def all_sent() -> bool:
                rows = (await c.get(f"/api/v1/notifications?alert_id={alert_id}")).json()["notifications"]
                return sorted(n["status"] for n in rows) == ["sent", "sent", "sent"]

            await eventually(all_sent)
        bodies = [r.json() for r in sink.requests]
        assert [b["notifications"][0]["transition"] for b in bodies] == ["firing", "acknowledged", "resolved"]
        first = sink.requests[0]
        assert first.headers["x-team"] == "netops"
        assert verify("s3cret-signing-key", first.headers["x-opsconductor-timestamp"], first.body,
                      first.headers["x-opsconductor-signature"], now=time.time())
        assert not verify("wrong", first.headers["x-opsconductor-timestamp"], first.body,
                          first.headers["x-opsconductor-signature"], now=time.time())
        assert bodies[0]["version"] == 1 and bodies[0]["notifications"][0]["alert"]["resource"] == "rtr1.ams"
        assert bodies[1]["notifications"][0]["actor"].startswith("test-write")
        assert len({r.headers["idempotency-key"] for r in sink.requests}) == 3


async def test_route_matching_nothing_sends_nothing(notify_server: NotifyServer) -> None:
    cfg = """
receivers:
  hook: {{kind: webhook, url: "{url}/hook"}}
  other: {{kind: webhook, url: "{url}/other"}}
route:
  receiver: hook
  group_wait: 0s
  group_interval: 0s
  routes:
    - match: {{resource: {{regex: "core-.*"}}}}
      receiver: other
"""
    async with serving(WebhookSink()) as sink, notify_server(cfg.format(url=sink.url)) as srv:
        async with srv.client(srv.write_key) as c:
            await c.post("/api/v1/events?wait=true", json=[EV, {**EV, "resource": "core-1"}])
            await sink.wait_for(2)
        assert sorted(r.path for r in sink.requests) == ["/hook", "/other"]
