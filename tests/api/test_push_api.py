"""The push routes over real HTTP: Alertmanager v2, webhooks, and every bad request as a problem body."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.normalize.test_grafana import GRAFANA
from tests.normalize.test_prometheus import WEBHOOK_V4
from tests.support.server import LiveServer, start_live_server

REPO = Path(__file__).resolve().parents[2]
PROBLEM = "application/problem+json"

TWO_HOOKS = """\
name: demo
version: '1'
sources:
  - {name: first, kind: webhook, event: "{{ item.what }}", resource: "{{ item.where }}", severity: minor}
  - {name: second, kind: webhook, items: list, event: "{{ item.e }}", resource: r2}
"""


@pytest.fixture
async def server(tmp_path: Path, settings_factory: Any) -> Any:
    addons = tmp_path / "addons"
    for name in ("prometheus", "grafana"):
        shutil.copytree(REPO / "addons" / name, addons / name)
    (addons / "demo").mkdir()
    (addons / "demo" / "addon.yaml").write_text(TWO_HOOKS)
    async with start_live_server(settings_factory(addons_dir=addons)) as s:
        yield s


async def open_alerts(server: LiveServer, **params: Any) -> list[dict[str, Any]]:
    async with server.client(server.read_key) as c:
        r = await c.get("/api/v1/alerts", params={"status": ["active", "resolved"], **params})
        assert r.status_code == 200, r.text
        return list(r.json()["alerts"])


async def wait_processed(server: LiveServer, ids: list[int]) -> None:
    done = await server.runtime.pipeline.wait_results(ids, 10)
    assert len(done) == len(ids)


async def test_alertmanager_v2_fire_then_resolve(server: LiveServer) -> None:
    firing = [{"labels": {"alertname": "DiskFull", "instance": "web1:9100", "severity": "critical"},
               "annotations": {"summary": "disk full"}, "startsAt": "2026-03-01T11:00:00Z",
               "endsAt": "2999-01-01T00:00:00Z"}]
    async with server.client(server.write_key) as c:
        r = await c.post("/api/v2/alerts", json=firing)
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == 1 and r.json()["addon"] == "prometheus"
        await wait_processed(server, r.json()["ids"])
        (alert,) = await open_alerts(server, event="DiskFull")
        assert (alert["status"], alert["severity"], alert["summary"]) == ("active", "critical", "disk full")
        resolved = [{**firing[0], "endsAt": "2026-03-01T11:30:00Z"}]
        r = await c.post("/api/v2/alerts", json=resolved)
        await wait_processed(server, r.json()["ids"])
        (alert,) = await open_alerts(server, event="DiskFull")
        assert alert["status"] == "resolved"
        assert (await c.post("/api/v2/alerts", json=[])).json()["accepted"] == 0  # Alertmanager accepts []


async def test_alertmanager_webhook_and_grafana_through_the_webhook_route(server: LiveServer) -> None:
    async with server.client(server.write_key) as c:
        r = await c.post("/api/v1/webhooks/prometheus", json=WEBHOOK_V4)
        assert r.status_code == 202, r.text
        await wait_processed(server, r.json()["ids"])
        r = await c.post("/api/v1/webhooks/grafana", json=GRAFANA)
        assert r.status_code == 202, r.text
        assert (r.json()["accepted"], r.json()["source"]) == (2, "alerts")
        await wait_processed(server, r.json()["ids"])
    (db2,) = await open_alerts(server, resource="db2:9100")
    assert (db2["event"], db2["severity"], db2["source"]) == ("InstanceDown", "critical", "prometheus")
    assert await open_alerts(server, resource="db1:9100") == []  # resolved with no open alert: nothing created
    (mem,) = await open_alerts(server, event="High memory usage")
    assert (mem["event"], mem["resource"], mem["severity"]) == ("High memory usage", "web3:9100", "major")


async def test_addon_with_several_webhook_sources(server: LiveServer) -> None:
    async with server.client(server.write_key) as c:
        r = await c.post("/api/v1/webhooks/demo", json={"what": "x", "where": "y"})
        assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
        assert "several webhook sources (first, second)" in r.json()["detail"]
        r = await c.post("/api/v1/webhooks/demo/second", json={"list": [{"e": "a"}, {"e": "b"}]})
        assert r.status_code == 202 and r.json()["accepted"] == 2
        r = await c.post("/api/v1/webhooks/demo/third", json={})
        assert r.status_code == 404 and r.json()["detail"] == "addon 'demo' has no webhook source 'third'"


@pytest.mark.parametrize(("path", "body", "status", "detail", "errors"), [
    ("/api/v2/alerts", b"{not json", 400, "malformed JSON", None),
    ("/api/v2/alerts", b"", 400, "request body is empty", None),
    ("/api/v2/alerts", b'{"labels": {}}', 422,
     "body must be a JSON array of alerts (Alertmanager API v2 postableAlerts)",
     [{"field": "(root)", "message": "expected array, got dict"}]),
    ("/api/v2/alerts", b'[{"labels": {"alertname": "A"}}, {"labels": {"job": "x"}}]', 422,
     "1 of 2 alerts are invalid; nothing was accepted",
     [{"field": "labels.alertname", "message": "missing: it names the event", "index": 1}]),
    ("/api/v1/webhooks/prometheus", b'{"version": "3", "alerts": []}', 422,
     "unsupported Alertmanager webhook payload version", [{"field": "version", "message": "expected \"4\", got '3'"}]),
    ("/api/v1/webhooks/grafana", b'{"alerts": [{"labels": {}}]}', 422,
     "1 of 1 items could not be mapped to events; nothing was accepted",
     [{"field": "(item)", "message": "event: rendered empty", "index": 0}]),
    ("/api/v1/webhooks/nagios", b"{}", 404, "no loaded addon 'nagios' with a webhook source", None),
])
async def test_bad_requests_are_problems_and_store_nothing(
    server: LiveServer, path: str, body: bytes, status: int, detail: str, errors: list[dict[str, Any]] | None
) -> None:
    async with server.client(server.write_key) as c:
        r = await c.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    problem = r.json()
    assert problem["status"] == status and problem["detail"].startswith(detail)
    assert problem.get("errors") == errors
    assert await open_alerts(server) == []


async def test_scopes_and_delivery_metrics(server: LiveServer) -> None:
    async with server.client(server.read_key) as reader, server.client() as anon, \
            server.client(server.write_key) as writer:
        assert (await reader.post("/api/v1/webhooks/grafana", json=GRAFANA)).status_code == 403
        assert (await anon.post("/api/v1/webhooks/grafana", json=GRAFANA)).status_code == 401
        assert (await writer.post("/api/v1/webhooks/grafana", json=GRAFANA)).status_code == 202
        assert (await writer.post("/api/v1/webhooks/grafana", json={"alerts": [{}]})).status_code == 422
        metrics = (await anon.get("/metrics")).text
    assert 'opsconductor_webhook_deliveries_total{addon="grafana",outcome="accepted"} 1.0' in metrics
    assert 'opsconductor_webhook_deliveries_total{addon="grafana",outcome="rejected"} 1.0' in metrics


async def test_disabled_addon_refuses_deliveries(server: LiveServer) -> None:
    async with server.client(server.admin_key) as c:
        assert (await c.post("/api/v1/addons/grafana/disable")).status_code == 200
        r = await c.post("/api/v1/webhooks/grafana", json=GRAFANA)
        assert r.status_code == 404 and "disabled" in r.json()["detail"]
        assert (await c.post("/api/v1/addons/grafana/enable")).status_code == 200
        assert (await c.post("/api/v1/webhooks/grafana", json=GRAFANA)).status_code == 202


async def test_no_alertmanager_addon(live_server: LiveServer) -> None:
    async with live_server.client(live_server.write_key) as c:
        r = await c.post("/api/v2/alerts", json=[{"labels": {"alertname": "A"}}])
    assert r.status_code == 404
    assert "install addons/prometheus" in r.json()["detail"]
