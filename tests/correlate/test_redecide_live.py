"""Event-driven re-decisions against a live server: a suppressed alert comes back (or a new
reason takes effect) at once, never at the next periodic pass.

The periodic backstop is set to 10 minutes here, so only the event-driven paths can pass
these tests: the batch's own transaction (an inhibitor arrives or resolves), the silences API
(created or deleted), and the suppression stage's timer (a silence's ends_at or starts_at, a
maintenance window opening or closing), each measured under one second.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.poll import eventually
from tests.support.server import LiveServer, start_live_server

RULES = """\
rules:
  - id: device-hides-links
    inhibit: {source: {event: device_down}, target: {event: link_down}, equal: [resource]}
  - id: noon-window
    maintenance: {when: {labels.role: backup}, schedule: {from: "12:00", to: "12:01"}}
"""
BACKSTOP_S = 600.0


@pytest.fixture
async def server(settings_factory: Any, tmp_path: Path) -> AsyncIterator[LiveServer]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(RULES)
    settings = settings_factory(rules_dir=rules, rules_reevaluate_interval_s=BACKSTOP_S, rules_watch=False)
    async with start_live_server(settings) as srv:
        yield srv


async def send(c: httpx.AsyncClient, event: dict[str, Any]) -> dict[str, Any]:
    r = await c.post("/api/v1/events", params={"wait": "true"}, json=[event])
    assert r.status_code == 200, r.text
    return dict(r.json()["results"][0])


async def status(c: httpx.AsyncClient, alert_id: int) -> str:
    r = await c.get(f"/api/v1/alerts/{alert_id}")
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


async def became(c: httpx.AsyncClient, alert_id: int, want: str) -> datetime:
    """Wait until the alert has status ``want``; returns when the server changed it (its history
    entry's time, on the server's clock: the client's polling is not part of the figure)."""

    async def reached() -> dict[str, Any] | None:
        r = await c.get(f"/api/v1/alerts/{alert_id}")
        a = dict(r.json())
        return a if a["status"] == want else None

    a = await eventually(reached, within=5.0, what=f"alert {alert_id} {want}")
    entry = [h for h in a["history"] if h["kind"] == "status" and h["status"] == want][-1]
    return datetime.fromisoformat(entry["at"].replace("Z", "+00:00"))


LINK = {"resource": "sw1", "event": "link_down", "component": "ge-0/0/1", "severity": "major"}


async def test_an_inhibitor_that_arrives_or_resolves_re_decides_open_alerts_in_the_same_transaction(
        server: LiveServer) -> None:
    async with server.client(server.write_key) as c:
        link = await send(c, LINK)
        assert link["outcome"] == "created"
        await send(c, {"resource": "sw1", "event": "device_down", "severity": "critical"})
        # answered after the batch committed: the open link alert is already suppressed
        assert await status(c, link["alert_id"]) == "suppressed"
        await send(c, {"resource": "sw1", "event": "device_down", "severity": "clear"})
        assert await status(c, link["alert_id"]) == "active"
        # an operator resolving (or housekeeping expiring) the inhibitor releases it the same way
        dev = await send(c, {"resource": "sw1", "event": "device_down", "severity": "critical"})
        assert await status(c, link["alert_id"]) == "suppressed"
        r = await c.post(f"/api/v1/alerts/{dev['alert_id']}/resolve", json={"text": "fixed"})
        assert r.status_code == 200, r.text
        assert await status(c, link["alert_id"]) == "active"
        assert server.runtime.suppression is not None and server.runtime.suppression.passes == 0  # no pass needed


async def test_a_silence_created_deleted_or_reaching_ends_at_takes_effect_within_a_second(
        server: LiveServer) -> None:
    async with server.client(server.write_key) as c:
        link = await send(c, LINK)
        r = await c.post("/api/v1/silences", json={"matchers": {"resource": "sw1"}, "duration": "1h",
                                                   "comment": "CHG-1"})
        assert r.status_code == 201, r.text
        assert await status(c, link["alert_id"]) == "suppressed"  # before the create answered
        assert (await c.delete(f"/api/v1/silences/{r.json()['id']}")).status_code == 200
        assert await status(c, link["alert_id"]) == "active"  # before the delete answered

        ends = datetime.now(UTC) + timedelta(seconds=1.5)
        r = await c.post("/api/v1/silences", json={"matchers": {"resource": "sw1"}, "ends_at": ends.isoformat(),
                                                   "comment": "short"})
        assert r.status_code == 201, r.text
        assert await status(c, link["alert_id"]) == "suppressed"
        late = (await became(c, link["alert_id"], "active") - ends).total_seconds()
        assert 0 <= late < 1.0, f"active {late:.2f}s after the silence's ends_at"

        starts = datetime.now(UTC) + timedelta(seconds=1.0)
        r = await c.post("/api/v1/silences", json={"matchers": {"resource": "sw1"}, "starts_at": starts.isoformat(),
                                                   "duration": "1h", "comment": "later"})
        assert r.status_code == 201, r.text
        assert await status(c, link["alert_id"]) == "active"  # not yet
        late = (await became(c, link["alert_id"], "suppressed") - starts).total_seconds()
        assert 0 <= late < 1.0, f"suppressed {late:.2f}s after the silence's starts_at"


def shifted(target: datetime) -> Callable[[], datetime]:
    """A clock that runs at real speed but reads ``target`` now."""
    offset = target - datetime.now(UTC)
    return lambda: datetime.now(UTC) + offset


async def test_a_maintenance_window_that_opens_or_closes_re_decides_within_a_second(server: LiveServer) -> None:
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    server.runtime.pipeline.clock = shifted(today - timedelta(seconds=1))  # the window opens in 1 s
    async with server.client(server.write_key) as c:
        bak = await send(c, {"resource": "bak1", "event": "device_down", "severity": "critical",
                             "labels": {"role": "backup"}})
        assert bak["outcome"] == "created"
        late = (await became(c, bak["alert_id"], "suppressed") - today).total_seconds()
        assert 0 <= late < 1.0, f"suppressed {late:.2f}s after the window opened"
        server.runtime.pipeline.clock = shifted(today + timedelta(seconds=59.5))  # closes in 0.5 s
        closed = today + timedelta(minutes=1)
        late = (await became(c, bak["alert_id"], "active") - closed).total_seconds()
        assert 0 <= late < 1.0, f"active {late:.2f}s after the window closed"
