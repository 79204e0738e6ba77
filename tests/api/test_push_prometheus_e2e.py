"""Real Prometheus and Alertmanager binaries talk to OpsConductor, configured as docs/integrations.md says.

- Prometheus uses OpsConductor as its Alertmanager: firing rule -> alert, rule stops -> resolved.
- An Alertmanager forwards to OpsConductor's webhook: alert -> alert, resolved -> resolved.

Needs the Debian packages ``prometheus`` and ``prometheus-alertmanager``; the tests run the
binaries themselves on loopback ports with temporary configs and storage, never the services.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from opsconductor.config.yaml_source import parse_yaml
from tests.api.test_push_docs import docs_example
from tests.support.poll import eventually
from tests.support.server import LiveServer, free_port, start_live_server

REPO = Path(__file__).resolve().parents[2]

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


def push_addons(tmp_path: Path, *names: str) -> Path:
    """An addons dir holding copies of the shipped addons ``names``."""
    target = tmp_path / "addons"
    for name in names:
        shutil.copytree(REPO / "addons" / name, target / name)
    return target


def _binary(name: str, package: str) -> str:
    path = shutil.which(name) or f"/usr/bin/{name}"
    if Path(path).is_file() and os.access(path, os.X_OK):
        return path
    message = f"the {name} binary is missing: apt-get install -y {package}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def from_docs(name: str, port: int, key: str) -> dict[str, Any]:
    """A configuration example of docs/integrations.md, pointed at this test's server."""
    text = docs_example(name).replace("127.0.0.1:8080", f"127.0.0.1:{port}").replace("OPSCONDUCTOR_WRITE_KEY", key)
    return dict(parse_yaml(text, f"docs/integrations.md#{name}").data)


@asynccontextmanager
async def running(binary: str, args: list[str], tmp_path: Path, ready_url: str) -> AsyncIterator[None]:
    """Run a binary until the block ends; waits for its readiness endpoint."""
    log_path = tmp_path / f"{Path(binary).name}.log"
    log = log_path.open("wb")
    proc = await asyncio.create_subprocess_exec(binary, *args, stdout=log, stderr=asyncio.subprocess.STDOUT,
                                                cwd=tmp_path)
    try:
        async with httpx.AsyncClient(timeout=5.0) as c:
            for _ in range(150):
                if proc.returncode is not None:
                    raise AssertionError(f"{binary} exited: {log_path.read_text()[-2000:]}")
                try:
                    if (await c.get(ready_url)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"{binary} did not become ready within 15 s")
        yield
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        log.close()


@asynccontextmanager
async def running_prometheus(tmp_path: Path, alertmanager_port: int, key: str) -> AsyncIterator[tuple[str, Path]]:
    """Prometheus with the always-firing rule and the docs' alerting config; yields (its URL, rules file)."""
    binary = _binary("prometheus", "prometheus")
    rules = tmp_path / "rules.yml"
    rules.write_text(FIRING_RULES)
    config = {"global": {"evaluation_interval": "1s"}, "rule_files": [str(rules)],
              **from_docs("prometheus", alertmanager_port, key)}
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle", "--log.level=warn",
            # Alerts fire before the Alertmanager target is discovered (that takes a few seconds);
            # a short resend delay re-sends them then instead of a minute later.
            "--rules.alert.resend-delay=1s"]
    async with running(binary, args, tmp_path, f"{url}/-/ready"):
        yield url, rules


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


async def test_real_alertmanager_forwards_to_the_webhook(tmp_path: Path, settings_factory: Any) -> None:
    binary = _binary("prometheus-alertmanager", "prometheus-alertmanager")
    settings = settings_factory(addons_dir=push_addons(tmp_path, "prometheus"))
    async with start_live_server(settings) as server:
        config = from_docs("alertmanager", int(server.url.rsplit(":", 1)[1]), server.write_key)
        config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1h")
        (tmp_path / "alertmanager.yml").write_text(json.dumps(config))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        args = [f"--config.file={tmp_path / 'alertmanager.yml'}", f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"]
        alert = {"labels": {"alertname": "BgpSessionDown", "instance": "rtr9:9116", "severity": "error"},
                 "annotations": {"summary": "BGP session to AS65001 down"}}
        async with running(binary, args, tmp_path, f"{url}/-/ready"), httpx.AsyncClient(timeout=10) as am, \
                server.client(server.read_key) as api:
            r = await am.post(f"{url}/api/v2/alerts", json=[alert])
            assert r.status_code == 200, r.text

            async def forwarded() -> dict[str, Any] | None:
                rows = (await api.get("/api/v1/alerts", params={"event": "BgpSessionDown"})).json()["alerts"]
                return rows[0] if rows else None

            row = await eventually(forwarded, 30, "Alertmanager to forward the alert")
            assert (row["resource"], row["severity"], row["status"]) == ("rtr9:9116", "major", "active")
            assert row["labels"]["receiver"] == "opsconductor"
            ended = datetime.now(UTC).isoformat()
            r = await am.post(f"{url}/api/v2/alerts", json=[{**alert, "endsAt": ended}])
            assert r.status_code == 200, r.text

            async def resolved() -> dict[str, Any] | None:
                body: dict[str, Any] = (await api.get(f"/api/v1/alerts/{row['id']}")).json()
                return body if body["status"] == "resolved" else None

            await eventually(resolved, 30, "Alertmanager to send the resolved notification")
