"""A live server with notify routes and an inhibit rule, for the Alertmanager API and amtool tests."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.support.server import LiveServer, start_live_server

REPO = Path(__file__).resolve().parents[2]
NOTIFY = """\
receivers:
  noc: {kind: webhook, url: "http://127.0.0.1:9/noc"}
  core: {kind: webhook, url: "http://127.0.0.1:9/core"}
route:
  receiver: noc
  group_by: [resource]
  routes:
    - match: {severity: critical, labels.site: {regex: "ams.*"}}
      receiver: core
      group_wait: 10s
"""

RULES = """\
rules:
  - id: device-down-hides-links
    inhibit: {source: {event: device_down}, target: {event: link_down}, equal: [resource]}
"""

EVENTS = [
    {"resource": "rtr1.ams", "event": "bgp_down", "severity": "critical", "summary": "BGP peer 10.0.0.2 down",
     "labels": {"site": "ams1"}},
    {"resource": "rtr2.fra", "event": "cpu_high", "severity": "minor", "summary": "CPU at 93%",
     "labels": {"site": "fra1"}},
    {"resource": "sw1.ams", "event": "device_down", "severity": "critical", "labels": {"site": "ams2"}},
    {"resource": "sw1.ams", "event": "link_down", "component": "ge-0/0/1", "severity": "major",
     "labels": {"site": "ams2"}},
]


@asynccontextmanager
async def am_server(settings_factory: Callable[..., Any], tmp_path: Path) -> AsyncIterator[LiveServer]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "notify.yaml").write_text(NOTIFY)
    (rules / "inhibit.yaml").write_text(RULES)
    addons = tmp_path / "addons"  # the shipped prometheus addon: `amtool alert add` posts to /api/v2/alerts
    shutil.copytree(REPO / "addons" / "prometheus", addons / "prometheus")
    settings = settings_factory(rules_dir=rules, notify_file=rules / "notify.yaml", addons_dir=addons,
                                public_url="https://noc.example.net")
    async with start_live_server(settings) as server:
        async with server.admin as c:
            r = await c.post("/api/v1/events", params={"wait": "true"}, json=EVENTS)
            assert r.status_code == 200, r.text
        yield server
