"""The real ``amtool`` (Debian prometheus-alertmanager) against a real OpsConductor server.

amtool sends the API key from ``--http.config.file`` (Prometheus' http_config), written
exactly as docs/integrations.md shows (its ``amtool`` example).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.api.am_support import am_server
from tests.api.test_push_docs import docs_example
from tests.support.server import LiveServer

pytestmark = pytest.mark.skipif(shutil.which("amtool") is None and not os.environ.get("CI"),
                                reason="amtool not installed (apt-get install prometheus-alertmanager)")


class Amtool:
    def __init__(self, server: LiveServer, key: str, tmp_path: Path):
        self.url = server.url
        self.http_config = tmp_path / f"amtool-{len(key)}-{key[-6:]}.yml"
        # the file docs/integrations.md shows, with the key filled in
        self.http_config.write_text(docs_example("amtool").replace("OPSCONDUCTOR_WRITE_KEY", key))

    async def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["amtool", f"--alertmanager.url={self.url}", f"--http.config.file={self.http_config}", *args]
        done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=60)
        if ok:
            assert done.returncode == 0, f"{cmd}: {done.stderr}"
        return done


def _rows(out: str) -> list[str]:
    return [line for line in out.splitlines()[1:] if line.strip()]


async def test_alert_query_silence_add_query_expire(settings_factory: Any, tmp_path: Path) -> None:
    async with am_server(settings_factory, tmp_path) as srv:
        am = Amtool(srv, srv.write_key, tmp_path)

        active = _rows((await am("alert", "query")).stdout)  # only active ones by default
        assert sorted(r.split()[0] for r in active) == ["bgp_down", "cpu_high", "device_down"]
        (bgp,) = [r for r in active if r.startswith("bgp_down")]
        assert "BGP peer 10.0.0.2 down" in bgp
        inhibited = _rows((await am("alert", "query", "-i")).stdout)
        assert [r.split()[0] for r in inhibited] == ["link_down"]
        ext = (await am("-o", "extended", "alert", "query", 'site=~"ams.*"')).stdout
        assert 'alertname="bgp_down"' in ext and 'resource="rtr1.ams"' in ext and "cpu_high" not in ext

        added = await am("silence", "add", "alertname=cpu_high", "resource=rtr2.fra", "--comment", "CHG-77 reboot",
                         "--duration", "2h", "--author", "alice")
        sid = added.stdout.strip()
        assert sid.startswith("00000000-0000-0000-0000-")

        silenced = _rows((await am("alert", "query", "-s")).stdout)
        assert [r.split()[0] for r in silenced] == ["cpu_high"]
        assert "cpu_high" not in (await am("alert", "query")).stdout  # silenced: no longer "active"

        query = (await am("silence", "query")).stdout
        assert sid in query and "CHG-77 reboot" in query and 'alertname="cpu_high"' in query
        assert sid in (await am("silence", "query", "-q", "alertname=cpu_high")).stdout.split()

        await am("silence", "expire", sid)
        assert sid not in (await am("silence", "query")).stdout  # amtool lists active ones by default
        assert sid in (await am("silence", "query", "--expired")).stdout
        assert "cpu_high" in (await am("alert", "query")).stdout  # active again at once

        # amtool alert add posts to /api/v2/alerts like Prometheus does: it becomes one of our alerts
        await am("alert", "add", "alertname=disk_full", "instance=db1:9100", "severity=critical",
                 "--annotation=summary=disk /var is full")
        for _ in range(100):  # accepted = stored; it becomes an alert when processed, moments later
            ext = (await am("-o", "extended", "alert", "query", "alertname=disk_full")).stdout
            if "disk_full" in ext:
                break
            await asyncio.sleep(0.1)
        assert 'resource="db1:9100"' in ext and 'summary="disk /var is full"' in ext

        missing = await am("silence", "expire", "00000000-0000-0000-0000-000000009999", ok=False)
        assert missing.returncode != 0 and "404" in missing.stderr and "no consumer" not in missing.stderr


async def test_config_show_and_routes(settings_factory: Any, tmp_path: Path) -> None:
    async with am_server(settings_factory, tmp_path) as srv:
        am = Amtool(srv, srv.read_key, tmp_path)
        show = (await am("config", "show")).stdout
        assert "receiver: noc" in show and "receiver: core" in show
        routes = (await am("config", "routes")).stdout
        assert "default-route  receiver: noc" in routes
        assert '{severity="critical",site=~"ams.*"}  receiver: core' in routes
        assert (await am("config", "routes", "test", "severity=critical", "site=ams9")).stdout.strip() == "core"
        assert (await am("config", "routes", "test", "severity=minor", "site=ams9")).stdout.strip() == "noc"


async def test_errors_reach_amtool_as_messages(settings_factory: Any, tmp_path: Path) -> None:
    async with am_server(settings_factory, tmp_path) as srv:
        reader = Amtool(srv, srv.read_key, tmp_path)
        denied = await reader("silence", "add", "alertname=x", "--comment", "c", ok=False)
        assert denied.returncode != 0 and "403" in denied.stderr and "no consumer" not in denied.stderr
        bad_key = Amtool(srv, "opsc_not_a_key", tmp_path)
        refused = await bad_key("alert", "query", ok=False)
        assert refused.returncode != 0 and "401" in refused.stderr and "no consumer" not in refused.stderr
        writer = Amtool(srv, srv.write_key, tmp_path)
        bad = await writer("silence", "add", 'alertname=~"("', "--comment", "c", ok=False)
        assert bad.returncode != 0 and "no consumer" not in bad.stderr
