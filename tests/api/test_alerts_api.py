"""The alert API over real HTTP: filters, keyset pages, counts, actions, bulk, problems."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.test_events_api import assert_problem
from tests.support.server import LiveServer


async def post_wait(c: httpx.AsyncClient, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = await c.post("/api/v1/events", params={"wait": "true"}, json=events)
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


async def test_filters_and_text_search(live_server: LiveServer) -> None:
    async with live_server.client(live_server.write_key) as c:
        await post_wait(c, [
            {"resource": "rtr1.ams", "event": "link_down", "component": "ge-0/0/1", "severity": "major",
             "labels": {"site": "ams"}, "summary": "uplink to core"},
            {"resource": "rtr2.fra", "event": "cpu_high", "severity": "warning", "labels": {"site": "fra"}},
            {"resource": "sw1.ams", "event": "device_down", "severity": "critical", "labels": {"site": "ams"}},
            {"resource": "sw2.ams", "event": "device_down", "severity": "critical", "labels": {"site": "ams"}},
            {"resource": "sw2.ams", "event": "device_down", "severity": "clear"},
        ])

        async def names(**params: Any) -> list[str]:
            r = await c.get("/api/v1/alerts", params=params)
            assert r.status_code == 200, r.text
            return sorted(a["resource"] for a in r.json()["alerts"])

        assert await names() == ["rtr1.ams", "rtr2.fra", "sw1.ams"]  # resolved hidden by default
        assert await names(status="resolved") == ["sw2.ams"]
        assert await names(status=["active", "resolved"]) == ["rtr1.ams", "rtr2.fra", "sw1.ams", "sw2.ams"]
        assert await names(label="site:ams") == ["rtr1.ams", "sw1.ams"]
        assert await names(severity="critical") == ["sw1.ams"]
        assert await names(event="link_down", component="ge-0/0/1") == ["rtr1.ams"]
        assert await names(resource=["rtr2.fra", "sw1.ams"]) == ["rtr2.fra", "sw1.ams"]
        assert await names(q="UPLINK") == ["rtr1.ams"]
        assert await names(since="2000-01-01T00:00:00Z", until="2001-01-01T00:00:00Z") == []
        assert_problem(await c.get("/api/v1/alerts", params={"status": "open"}), 400)
        assert_problem(await c.get("/api/v1/alerts", params={"label": "nocolon"}), 400)
        assert_problem(await c.get("/api/v1/alerts", params={"sort": "colour"}), 400)
        assert_problem(await c.get("/api/v1/alerts", params={"limit": 1001}), 400)


async def test_keyset_pagination_visits_every_alert_once_in_order(live_server: LiveServer) -> None:
    async with live_server.client(live_server.write_key) as c:
        sev = ["critical", "major", "minor", "warning", "info"]
        await post_wait(c, [{"resource": f"r{i:03}", "event": "e", "severity": sev[i % 5]} for i in range(57)])
        for sort in ("-last_seen", "id", "-severity"):
            seen: list[dict[str, Any]] = []
            cursor = None
            while True:
                params: dict[str, Any] = {"limit": 10, "sort": sort}
                if cursor:
                    params["cursor"] = cursor
                body = (await c.get("/api/v1/alerts", params=params)).json()
                seen.extend(body["alerts"])
                cursor = body["next_cursor"]
                if not cursor:
                    break
            assert len(seen) == 57 and len({a["id"] for a in seen}) == 57
            if sort == "id":
                assert [a["id"] for a in seen] == sorted(a["id"] for a in seen)
            if sort == "-severity":
                ranks = [sev.index(a["severity"]) for a in seen]
                assert ranks == sorted(ranks)
        r = await c.get("/api/v1/alerts", params={"limit": 10, "sort": "id"})
        cursor = r.json()["next_cursor"]
        assert_problem(await c.get("/api/v1/alerts", params={"cursor": cursor, "sort": "-id"}), 400)
        assert_problem(await c.get("/api/v1/alerts", params={"cursor": "!!garbage"}), 400)


async def test_get_with_history_counts_and_unknown_id(live_server: LiveServer) -> None:
    async with live_server.client(live_server.write_key) as c:
        res = await post_wait(c, [{"resource": "r1", "event": "e", "severity": "minor"},
                                  {"resource": "r1", "event": "e", "severity": "major"},
                                  {"resource": "r2", "event": "e", "severity": "major"}])
        alert = (await c.get(f"/api/v1/alerts/{res[0]['alert_id']}")).json()
        assert [h["kind"] for h in alert["history"]] == ["created", "severity"]
        assert alert["history"][1]["previous_severity"] == "minor"
        counts = (await c.get("/api/v1/alerts/counts")).json()
        assert counts["counts"]["major"]["active"] == 2 and counts["total"] == 2
        assert_problem(await c.get("/api/v1/alerts/999999"), 404)
        assert_problem(await c.get("/api/v1/alerts/not-a-number"), 404)


async def test_ack_unack_note_resolve_with_actor_and_conflicts(live_server: LiveServer) -> None:
    async with live_server.client(live_server.write_key) as c:
        (res,) = await post_wait(c, [{"resource": "r1", "event": "e", "severity": "major"}])
        aid = res["alert_id"]
        r = await c.post(f"/api/v1/alerts/{aid}/ack", json={"text": "looking"})
        assert r.status_code == 200 and r.json()["status"] == "acknowledged"
        assert r.json()["acknowledged_by"].startswith("test-write")
        assert_problem(await c.post(f"/api/v1/alerts/{aid}/ack"), 409)
        # a duplicate keeps it acknowledged
        await post_wait(c, [{"resource": "r1", "event": "e", "severity": "major"}])
        assert (await c.get(f"/api/v1/alerts/{aid}")).json()["status"] == "acknowledged"
        assert (await c.post(f"/api/v1/alerts/{aid}/unack")).json()["status"] == "active"
        assert_problem(await c.post(f"/api/v1/alerts/{aid}/note", json={}), 400)
        assert_problem(await c.post(f"/api/v1/alerts/{aid}/note", json={"text": "x", "extra": 1}), 400)
        assert (await c.post(f"/api/v1/alerts/{aid}/note", json={"text": "called the NOC"})).status_code == 200
        assert (await c.post(f"/api/v1/alerts/{aid}/resolve")).json()["status"] == "resolved"
        assert_problem(await c.post(f"/api/v1/alerts/{aid}/ack"), 409)
        assert_problem(await c.post("/api/v1/alerts/424242/ack"), 404)
        history = (await c.get(f"/api/v1/alerts/{aid}")).json()["history"]
        assert [h["kind"] for h in history] == ["created", "ack", "unack", "note", "status"]
        assert history[3]["text"] == "called the NOC"
    async with live_server.client(live_server.read_key) as c:
        assert_problem(await c.post(f"/api/v1/alerts/{aid}/note", json={"text": "x"}), 403)


async def test_bulk_ack_and_resolve_by_filter_and_ids(live_server: LiveServer) -> None:
    async with live_server.client(live_server.write_key) as c:
        res = await post_wait(c, [{"resource": f"r{i}", "event": "e", "labels": {"site": "ams" if i < 3 else "fra"}}
                                  for i in range(5)])
        r = await c.post("/api/v1/alerts/bulk/ack", json={"filter": {"label": "site:ams"}, "text": "maintenance"})
        assert r.status_code == 200 and r.json()["changed"] == 3
        r = await c.post("/api/v1/alerts/bulk/resolve", json={"ids": [res[3]["alert_id"], res[4]["alert_id"]]})
        assert r.json()["changed"] == 2
        counts = (await c.get("/api/v1/alerts/counts")).json()["counts"]
        assert (counts["warning"]["acknowledged"], counts["warning"]["active"]) == (3, 0)
        assert counts["clear"]["resolved"] == 2  # a resolved alert's severity is clear (previous_severity kept)
        assert_problem(await c.post("/api/v1/alerts/bulk/ack", json={}), 400)
        assert_problem(await c.post("/api/v1/alerts/bulk/ack", json={"filter": {"colour": "red"}}), 400)
        assert_problem(await c.post("/api/v1/alerts/bulk/delete", json={"ids": [1]}), 400)


async def test_health_ready_metrics_need_no_key(live_server: LiveServer) -> None:
    async with live_server.client(live_server.write_key) as c:
        await post_wait(c, [{"resource": "r", "event": "e"}])
    async with live_server.client() as c:
        assert (await c.get("/healthz")).json() == {"status": "ok"}
        assert (await c.get("/readyz")).json() == {"status": "ready"}
        text = (await c.get("/metrics")).text
        assert 'opsconductor_events_received_total{source="api"} 1.0' in text
        assert 'opsconductor_events_processed_total{outcome="created"} 1.0' in text
        assert "opsconductor_processing_lag_seconds_bucket" in text
        assert "opsconductor_http_request_duration_seconds_bucket" in text
        assert (await c.get("/schema/openapi.json")).json()["info"]["title"] == "OpsConductor"
