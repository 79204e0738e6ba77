"""Grouping timers and suppression through the real server."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.model.decision import AcceptedEvent, Decided, Decision
from opsconductor.pipeline import DefaultCorrelator
from tests.notify.conftest import NotifyServer, eventually
from tests.notify.support import WebhookSink, serving
from tests.notify.test_reliability import TIMING, rows, send

EV = {"resource": "rtr1.ams", "event": "link_down", "component": "ge-0/0/1", "severity": "major"}


async def test_group_wait_and_group_interval(notify_server: NotifyServer) -> None:
    sink = WebhookSink()
    cfg = """
receivers:
  hook: {kind: webhook, url: "{url}/h"}
route:
  receiver: hook
  group_by: [resource]
  group_wait: 1s
  group_interval: 2s
"""
    async with serving(sink), notify_server(cfg.replace("{url}", sink.url)) as srv:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await send(srv, *({**EV, "event": e} for e in ("a", "b", "c")), {**EV, "resource": "sw2"})
        await sink.wait_for(2)
        first = loop.time() - t0
        by_resource = {r.json()["notifications"][0]["alert"]["resource"]: r.json() for r in sink.requests}
        assert len(by_resource["rtr1.ams"]["notifications"]) == 3  # one message for the whole group
        assert len(by_resource["sw2"]["notifications"]) == 1
        assert 0.9 <= first < 2.5
        await eventually(lambda: rows(srv, status="sent"))
        t1 = loop.time()
        await send(srv, {**EV, "event": "d"})
        await sink.wait_for(3, within=5)
        later = loop.time() - t1
    # the group sent less than group_interval ago: the newcomer waits for the interval, not group_wait
    assert 1.5 <= later < 3.5
    assert [n["alert"]["event"] for n in sink.requests[2].json()["notifications"]] == ["d"]


class MaintenanceCorrelator(DefaultCorrelator):
    """Suppresses events labelled maint=yes (what a silence or maintenance rule does)."""

    async def decide(self, conn: AsyncConnection, batch: Sequence[AcceptedEvent]) -> Decided:
        out = (await super().decide(conn, batch)).decisions
        return Decided([Decision(d.event_id, d.event, d.fingerprint, d.severity,
                                 suppressed_reason="maintenance" if d.event.labels.get("maint") == "yes" else None)
                        for d in out])


async def test_suppressed_alerts_stay_quiet_but_announced_ones_resolve(notify_server: NotifyServer) -> None:
    sink = WebhookSink()
    cfg = f'receivers:\n  hook: {{kind: webhook, url: "{{url}}/h"}}\nroute:\n  receiver: hook\n  {TIMING}\n'
    async with serving(sink), notify_server(cfg.replace("{url}", sink.url)) as srv:
        srv.runtime.pipeline.correlator = MaintenanceCorrelator()
        a, b, c = (dict(EV, resource=r) for r in ("a", "b", "c"))
        maint = {"labels": {"maint": "yes"}}
        # a: announced, then silenced, then cleared -> firing + resolved
        # b: silenced from the start, then cleared -> nothing
        # c: silenced, then the silence ends -> firing (never announced before)
        await send(srv, a, {**b, **maint}, {**c, **maint})
        await sink.wait_for(1)
        await send(srv, {**a, **maint})
        await send(srv, {**a, "severity": "clear"}, {**b, "severity": "clear"}, c)
        await sink.wait_for(3)
        await asyncio.sleep(0.3)  # room for anything that should not come
        seen = sorted((n["alert"]["resource"], n["transition"]) for r in sink.requests
                      for n in r.json()["notifications"])
    assert seen == [("a", "firing"), ("a", "resolved"), ("c", "firing")]


async def test_repeat_interval_reminds_until_acknowledged(notify_server: NotifyServer) -> None:
    sink = WebhookSink()
    cfg = ('receivers:\n  hook: {kind: webhook, url: "{url}/h"}\nroute:\n  receiver: hook\n  group_by: ["..."]\n'
           '  group_wait: 0s\n  group_interval: 0s\n  repeat_interval: 1s\n')
    async with serving(sink), notify_server(cfg.replace("{url}", sink.url)) as srv:
        (alert_id,) = await send(srv, EV)
        await sink.wait_for(3, within=6)  # firing, then a reminder about every second
        async with srv.client(srv.write_key) as c:
            await c.post(f"/api/v1/alerts/{alert_id}/ack", json={})
        await sink.wait_for(4)
        await asyncio.sleep(1.6)
        kinds = [r.json()["notifications"][0]["transition"] for r in sink.requests]
    ack_at = kinds.index("acknowledged")
    assert kinds[0] == "firing" and set(kinds[1:ack_at]) == {"repeat"} and ack_at >= 3
    assert kinds[ack_at + 1 :] == []  # acknowledged alerts are not repeated
