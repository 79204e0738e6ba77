"""The notification and receiver API, metrics, and `opsconductor notify check`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.notify.conftest import NotifyServer, eventually
from tests.notify.support import WebhookSink, serving
from tests.notify.test_reliability import rows, send

CONFIG = """
receivers:
  hook: {{kind: webhook, url: "{url}/h", signing_secret: "literal-signing-secret"}}
  pager: {{kind: pagerduty, routing_key: env:OC_TEST_UNSET_PD_KEY}}
route:
  receiver: hook
  group_by: ["..."]
  group_wait: 0s
  group_interval: 0s
  routes:
    - receiver: pager
      continue: true
    - receiver: hook
"""
EV = {"resource": "rtr1.ams", "event": "link_down", "severity": "major"}


async def test_receivers_notifications_test_send_and_metrics(notify_server: NotifyServer) -> None:
    async with serving(WebhookSink()) as sink, notify_server(CONFIG.format(url=sink.url)) as srv:
        async with srv.client(srv.read_key) as c:
            recv = {r["name"]: r for r in (await c.get("/api/v1/receivers")).json()["receivers"]}
            assert recv["hook"]["enabled"] and recv["hook"]["secrets"] == {"signing_secret": "***", "url": "***"}
            assert not recv["pager"]["enabled"]
            assert "OC_TEST_UNSET_PD_KEY is not set" in recv["pager"]["disabled_reason"]
            assert "literal-signing-secret" not in str(recv) and sink.url not in str(recv)
            assert (await c.post("/api/v1/receivers/hook/test")).status_code == 403  # admin only
            assert (await c.get("/api/v1/notifications?status=lost")).status_code == 400

        await send(srv, EV)
        await eventually(lambda: rows(srv, status="sent"))
        # the disabled receiver was skipped at routing time: nothing queued that could never be sent
        assert {r["receiver"] for r in await rows(srv)} == {"hook"}
        async with srv.client(srv.read_key) as c:
            assert (await c.post("/api/v1/notifications/1/retry")).status_code == 403
            metrics = (await c.get("/metrics")).text
        assert 'opsconductor_notify_sent_total{receiver="hook"} 1.0' in metrics

        async with srv.admin as c:
            r = await c.post("/api/v1/receivers/hook/test")
            assert r.status_code == 200 and r.json()["ok"] is True
            assert (await c.post("/api/v1/receivers/nope/test")).status_code == 404
            assert (await c.post("/api/v1/receivers/pager/test")).status_code == 409
        assert sink.requests[-1].json()["notifications"][0]["transition"] == "test"


def test_cli_notify_check(tmp_path: Path) -> None:
    good = Path(__file__).resolve().parents[2] / "rules" / "notify.yaml"
    r = subprocess.run([sys.executable, "-m", "opsconductor", "notify", "check", str(good)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "ok" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("receivers: {}\nroute: {receiver: ghost}\n")
    r = subprocess.run([sys.executable, "-m", "opsconductor", "notify", "check", str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and f'{bad}:2:9: undefined receiver "ghost" used in route' in r.stderr


async def test_reload_keeps_the_running_config_on_errors(notify_server: NotifyServer, tmp_path: Path) -> None:
    path = tmp_path / "notify.yaml"  # the file notify_server writes
    one = 'receivers:\n  a: {kind: webhook, url: "http://127.0.0.1:9/a"}\nroute:\n  receiver: a\n'
    async with notify_server(one) as srv, srv.admin as c:
        path.write_text(one + "  group_wait: never\n")
        r = await c.post("/api/v1/receivers/reload")
        assert r.status_code == 422
        assert r.json()["errors"] == [{"location": f"{path}:5:3",
                                       "message": "invalid duration 'never' (expected like 30s, 5m, 4h, 1d)"}]
        names = [x["name"] for x in (await c.get("/api/v1/receivers")).json()["receivers"]]
        assert names == ["a"]
        path.write_text(one.replace("route:", '  b: {kind: webhook, url: "http://127.0.0.1:9/b"}\nroute:'))

        async def picked_up() -> bool:  # the worker notices the edit by itself
            got = [x["name"] for x in (await c.get("/api/v1/receivers")).json()["receivers"]]
            return got == ["a", "b"]

        await eventually(picked_up, within=5)


async def test_settled_notifications_are_pruned_after_retention(notify_server: NotifyServer) -> None:
    async with serving(WebhookSink()) as sink, notify_server(CONFIG.format(url=sink.url)) as srv:
        await send(srv, EV)
        await eventually(lambda: rows(srv, status="sent"))
        worker = srv.runtime.notify_worker
        worker.retention_s = 0.0  # everything settled is now older than the retention
        worker._last_prune = 0.0
        await eventually(lambda: _empty(srv), within=5)


async def _empty(srv: Any) -> bool:
    return await rows(srv) == []


async def test_file_secrets_resolve_only_inside_the_credentials_directory(
        notify_server: NotifyServer, tmp_path: Path) -> None:
    creds = tmp_path / "data" / "credentials"
    creds.mkdir(parents=True)
    (creds / "pd.key").write_text("inside-routing-key\n")
    outside = tmp_path / "outside.key"
    outside.write_text("outside-routing-key\n")
    config = f"""
receivers:
  inside: {{kind: pagerduty, routing_key: "file:pd.key"}}
  absolute: {{kind: pagerduty, routing_key: "file:{outside}"}}
  escape: {{kind: pagerduty, routing_key: "file:../../outside.key"}}
route: {{receiver: inside}}
"""
    async with notify_server(config) as srv, srv.client(srv.read_key) as c:
        recv = {r["name"]: r for r in (await c.get("/api/v1/receivers")).json()["receivers"]}
        assert recv["inside"]["enabled"], recv["inside"]
        for name in ("absolute", "escape"):
            assert not recv[name]["enabled"]
            assert "outside the credentials directory" in recv[name]["disabled_reason"]
        assert "routing-key" not in str(recv)  # the content is never shown, only the reference
