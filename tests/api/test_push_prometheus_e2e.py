"""A real Prometheus uses OpsConductor as its Alertmanager: firing -> alert, rule stops -> resolved.

Needs the Debian package ``prometheus`` (``/usr/bin/prometheus``); the test runs the binary
itself on a loopback port with a temporary config and TSDB, never the system service.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import LiveServer, free_port, start_live_server

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"

pytestmark = pytest.mark.slow

FIRING_RULES = """
groups:
  - name: opsconductor-e2e
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels: {severity: critical, instance: "e2e-host:9100", team: noc}
        annotations: {summary: "always firing, for the end-to-end test", runbook_url: "https://example.invalid/rb"}
"""
# Same alert name and labels (so Prometheus keeps the alert's state across the reload), but an
# expression that returns nothing: the alert resolves and Prometheus sends it with endsAt = now.
QUIET_RULES = FIRING_RULES.replace("expr: vector(1)", "expr: vector(1) < 0")


def prometheus_binary() -> str:
    if Path(PROMETHEUS).is_file() and os.access(PROMETHEUS, os.X_OK):
        return PROMETHEUS
    message = "the prometheus binary is missing: apt-get install -y prometheus"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def push_addons(tmp_path: Path, *names: str) -> Path:
    """An addons dir holding copies of the shipped addons ``names``."""
    target = tmp_path / "addons"
    for name in names:
        shutil.copytree(REPO / "addons" / name, target / name)
    return target


@asynccontextmanager
async def running_prometheus(tmp_path: Path, alertmanager_port: int, key: str) -> AsyncIterator[tuple[str, Path]]:
    """Start Prometheus with the always-firing rule; yields (its URL, the rules file)."""
    binary = prometheus_binary()
    rules = tmp_path / "rules.yml"
    rules.write_text(FIRING_RULES)
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global:
  evaluation_interval: 1s
rule_files: [{rules}]
alerting:
  alertmanagers:
    - api_version: v2
      authorization: {{credentials: "{key}"}}
      static_configs: [{{targets: ["127.0.0.1:{alertmanager_port}"]}}]
""")
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle", "--log.level=warn",
        # Alerts fire before the Alertmanager target is discovered (that takes a few seconds);
        # a short resend delay re-sends them then instead of a minute later.
        "--rules.alert.resend-delay=1s",
        stdout=log, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=5.0) as c:
            for _ in range(150):
                if proc.returncode is not None:
                    raise AssertionError(f"prometheus exited: {(tmp_path / 'prometheus.log').read_text()[-2000:]}")
                try:
                    if (await c.get(f"{url}/-/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("prometheus did not become ready within 15 s")
        yield url, rules
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        log.close()


async def eventually(probe: Callable[[], Awaitable[Any]], within: float, what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await probe()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.2)


async def test_real_prometheus_alert_fires_and_resolves(tmp_path: Path, settings_factory: Any) -> None:
    settings = settings_factory(addons_dir=push_addons(tmp_path, "prometheus"))
    async with start_live_server(settings) as server:
        port = int(server.url.rsplit(":", 1)[1])
        async with running_prometheus(tmp_path, port, server.write_key) as (prom_url, rules), \
                server.client(server.read_key) as api:

            async def firing() -> dict[str, Any] | None:
                r = await api.get("/api/v1/alerts", params={"event": "AlwaysFiring"})
                assert r.status_code == 200, r.text
                alerts = r.json()["alerts"]
                return alerts[0] if alerts else None

            alert = await eventually(firing, 30, "the Prometheus alert to arrive")
            assert alert["resource"] == "e2e-host:9100"
            assert alert["severity"] == "critical"
            assert alert["status"] == "active"
            assert alert["source"] == "prometheus"
            assert alert["summary"] == "always firing, for the end-to-end test"
            assert alert["labels"]["team"] == "noc"
            assert alert["labels"]["severity"] == "critical"
            assert alert["labels"]["annotation_runbook_url"] == "https://example.invalid/rb"
            assert "/graph?g0.expr=vector" in alert["labels"]["generator_url"]

            rules.write_text(QUIET_RULES)
            async with httpx.AsyncClient(timeout=10.0) as prom:
                r = await prom.post(f"{prom_url}/-/reload")
                assert r.status_code == 200, r.text

            async def resolved() -> dict[str, Any] | None:
                r = await api.get(f"/api/v1/alerts/{alert['id']}")
                body: dict[str, Any] = r.json()
                return body if body["status"] == "resolved" else None

            done = await eventually(resolved, 30, "the alert to resolve after the rule stopped firing")
            assert done["resolved_at"] is not None
            last = done["history"][-1]
            assert (last["kind"], last["previous_status"], last["status"]) == ("status", "active", "resolved")


async def test_prometheus_without_write_key_is_refused(tmp_path: Path, live_server: LiveServer) -> None:
    """What Prometheus sees when its ``authorization`` is missing or has a read-only key."""
    alert = [{"labels": {"alertname": "X"}}]
    async with live_server.client() as anon, live_server.client(live_server.read_key) as reader:
        r = await anon.post("/api/v2/alerts", json=alert)
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        r = await reader.post("/api/v2/alerts", json=alert)
        assert r.status_code == 403
