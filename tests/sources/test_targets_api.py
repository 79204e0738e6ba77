"""/api/v1/targets CRUD, /api/v1/poller, /api/v1/addons; secrets never in responses or logs."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from tests.sources.conftest import copy_addon
from tests.sources.fake_apis import Prtg
from tests.sources.waits import wait_for

SECRET = "prtg-top-secret-token-9f3b"


async def test_targets_crud_scopes_and_validation(live_server) -> None:
    body = {"name": "sw1", "address": "127.0.0.1", "port": 1161, "labels": {"site": "ams"},
            "addons": ["generic-snmp"], "credential": "env:SW1_COMMUNITY", "credentials": {"ssh": "file:/etc/k"}}
    async with live_server.client(live_server.write_key) as w:
        assert (await w.post("/api/v1/targets", json=body)).status_code == 403  # admin only
    async with live_server.admin as a:
        r = await a.post("/api/v1/targets", json=body)
        assert r.status_code == 201, r.text
        view = r.json()
        assert view["credential_set"] is True and view["credentials_for"] == ["ssh"]
        assert "env:SW1_COMMUNITY" not in r.text and "file:/etc/k" not in r.text
        assert (await a.post("/api/v1/targets", json=body)).status_code == 409
        r = await a.put("/api/v1/targets/sw1", json={**body, "labels": {"site": "fra"}})
        assert r.status_code == 200 and r.json()["labels"] == {"site": "fra"}
        bad = await a.post("/api/v1/targets", json={"name": "x y", "address": "", "credential": "public-community",
                                                   "port": 70000})
        assert bad.status_code == 422
        problems = {p["field"]: p["message"] for p in bad.json()["errors"]}
        assert {"name", "address", "credential", "port"} <= set(problems)
        assert "public-community" not in bad.text  # a pasted secret is never echoed back
        assert (await a.delete("/api/v1/targets/sw1")).status_code == 204
        assert (await a.delete("/api/v1/targets/sw1")).status_code == 404
    async with live_server.client(live_server.read_key) as rd:
        r = await rd.get("/api/v1/targets")
        assert r.status_code == 200 and r.json()["targets"] == []
        assert (await rd.get("/api/v1/targets/sw1")).status_code == 404
        assert (await rd.get("/api/v1/poller")).json()["leader"] is True  # SQLite: one process, always leader


async def test_addons_api_enable_disable(settings_factory, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from tests.support.server import start_live_server

    copy_addon("ping", tmp_path / "addons")
    inv = tmp_path / "inv.yaml"
    inv.write_text('targets: [{name: d1, address: 127.0.0.1, labels: {ping: "yes"}}]\n')
    async with start_live_server(settings_factory(addons_dir=tmp_path / "addons", inventory_file=inv)) as srv, \
            srv.admin as a:
        addons = (await a.get("/api/v1/addons")).json()["addons"]
        assert [(x["name"], x["enabled"]) for x in addons] == [("ping", True)]
        assert [j["id"] for j in (await a.get("/api/v1/poller")).json()["jobs"]] == ["d1/ping/reachability"]
        assert (await a.post("/api/v1/addons/ping/disable")).json() == {"name": "ping", "enabled": False}
        assert (await a.get("/api/v1/poller")).json()["jobs"] == []
        await a.post("/api/v1/addons/ping/enable")
        assert len((await a.get("/api/v1/poller")).json()["jobs"]) == 1
        assert (await a.post("/api/v1/addons/nope/enable")).status_code == 404
        # A broken manifest is reported; the good version keeps running.
        (tmp_path / "addons" / "ping" / "addon.yaml").write_text("name: ping\nversion: [\n")
        r = (await a.post("/api/v1/poller/reload")).json()
        assert r["errors"] and r["errors"][0].startswith(str(tmp_path / "addons" / "ping" / "addon.yaml"))
        assert r["jobs"] == 1
        # `opsconductor addons reload` asks the running server (in a thread: the CLI is synchronous).
        from opsconductor.cli.main import main

        code = await asyncio.to_thread(main, ["addons", "reload", "--url", srv.url, "--key", srv.admin_key])
        assert code == 1  # the broken manifest is still reported
        out = capsys.readouterr()
        assert "reloaded: 1 addons, 1 targets, 1 jobs" in out.out
        assert f"\n{tmp_path / 'addons' / 'ping' / 'addon.yaml'}:3:1: " in "\n" + out.err


@pytest.fixture
def prtg():  # type: ignore[no-untyped-def]
    api = Prtg(token=SECRET).start()
    yield api
    api.stop()


async def test_secrets_never_in_api_or_logs(prtg, settings_factory, tmp_path, monkeypatch, caplog) -> None:
    from tests.support.server import start_live_server

    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    monkeypatch.setenv("TEST_PRTG_TOKEN", SECRET)
    monkeypatch.setenv("TEST_WRONG", "wrong-" + SECRET)
    prtg.add_sensor(1, "core1", "Ping", 5)
    copy_addon("prtg", tmp_path / "addons")
    inv = tmp_path / "inv.yaml"
    inv.write_text(f"""
targets:
  - {{name: prtg1, address: 127.0.0.1, port: {prtg.port}, labels: {{platform: prtg, scheme: http}},
     credential: "env:TEST_PRTG_TOKEN", intervals: {{prtg: 1}}}}
  - {{name: prtg2, address: 127.0.0.1, port: {prtg.port}, labels: {{platform: prtg, scheme: http}},
     credential: "env:TEST_WRONG", intervals: {{prtg: 1}}}}
""")
    async with start_live_server(settings_factory(addons_dir=tmp_path / "addons", inventory_file=inv)) as srv, \
            srv.admin as a:

        async def both_polled() -> bool:
            jobs = (await a.get("/api/v1/poller")).json()["jobs"]
            return len(jobs) == 2 and all(j["runs"] >= 1 for j in jobs) and any(j["last_error"] for j in jobs)

        await wait_for(both_polled, what="a good and a failing PRTG poll")
        await wait_for(lambda: _alerts(a), what="an alert")
        texts = [(await a.get(p)).text for p in ("/api/v1/poller", "/api/v1/targets", "/api/v1/addons",
                                                 "/api/v1/alerts?status=active&status=resolved", "/metrics")]
    assert any("answered 401" in t for t in texts)  # the failure is visible...
    assert 'opsconductor_polls_total{outcome="ok",protocol="http"}' in texts[-1] or \
        'opsconductor_polls_total{protocol="http",outcome="ok"}' in texts[-1]
    assert 'opsconductor_poll_failures_total{protocol="http",reason="error"}' in texts[-1] or \
        'opsconductor_poll_failures_total{reason="error",protocol="http"}' in texts[-1]
    for t in texts:
        assert SECRET not in t  # ...the token is not
    assert SECRET not in caplog.text
    assert SECRET not in json.dumps([r.getMessage() for r in caplog.records])


async def _alerts(c):  # type: ignore[no-untyped-def]
    return (await c.get("/api/v1/alerts")).json()["alerts"]


def test_httpx_request_log_lines_are_redacted(caplog) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from opsconductor.sources.http_client import install_log_redaction

    install_log_redaction()
    logger = logging.getLogger("httpx")
    logger.disabled = False
    caplog.set_level(logging.INFO, logger="httpx")
    url = httpx.URL(f"http://127.0.0.1:1/api/table.json?content=sensors&apitoken={SECRET}")
    logger.info('HTTP Request: %s %s "%s %d %s"', "GET", url, "HTTP/1.1", 200, "OK")
    assert "HTTP Request: GET http://127.0.0.1:1/api/table.json?" in caplog.text
    assert SECRET not in caplog.text
