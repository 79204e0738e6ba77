"""Replay: a recorded stream (a week of log times) through the shipped rules and through a copy
where one rule changed; exactly the expected alerts differ. CLI (text, JSON, exit codes) and API."""

from __future__ import annotations

import argparse
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opsconductor.correlate.cli import cmd_replay
from opsconductor.correlate.replay import is_derived
from opsconductor.model.event import NormalizedEvent
from opsconductor.store.db import Database
from opsconductor.store.event_log import accept_in
from opsconductor.store.migrate import upgrade
from tests.correlate.test_api_e2e import send

SHIPPED = Path(__file__).parents[2] / "rules"
T0 = datetime.now(UTC) - timedelta(days=3)

# (seconds after T0, event)
STREAM = [
    (0, {"resource": "sw1.ams", "event": "device_down", "severity": "critical"}),
    (5, {"resource": "sw1.ams", "event": "link_down", "component": "ge-0/0/1", "severity": "major"}),
    (6, {"resource": "sw1.ams", "event": "bgp_down", "component": "peer-a", "severity": "major"}),
    (7, {"resource": "sw2.ams", "event": "bgp_down", "component": "peer-b", "severity": "major"}),
    (60, {"resource": "sw1.ams", "event": "device_up"}),
    (3600, {"resource": "rtr9.fra", "event": "link_down", "component": "xe-1", "severity": "minor"}),
    (86400, {"resource": "sw3.ams", "event": "device_down", "severity": "critical"}),
    (86410, {"resource": "sw3.ams", "event": "bgp_down", "component": "peer-c", "severity": "major"}),
]


def _copy_rules(dest: Path) -> Path:
    dest.mkdir()
    for f in SHIPPED.glob("*.yaml"):
        shutil.copy(f, dest / f.name)
    return dest


@pytest.fixture
async def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A database whose event log holds STREAM at its own times (and a derived parent, skipped)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
    await upgrade(url)
    db = Database(url)
    async with db.write() as conn:
        for at, e in STREAM:
            await accept_in(conn, [NormalizedEvent.model_validate(e)], T0 + timedelta(seconds=at))
        await accept_in(conn, [NormalizedEvent(resource="ams", event="site_isolated", source="opsconductor",
                                                   labels={"correlated_by": "x", "correlation_key": "k"})], T0)
    await db.dispose()
    monkeypatch.setenv("OPSCONDUCTOR_DATABASE_URL", url)
    monkeypatch.setenv("OPSCONDUCTOR_NOTIFY_FILE", str(SHIPPED / "notify.yaml"))
    monkeypatch.setenv("OPSCONDUCTOR_RULES_DIR", str(SHIPPED))
    return tmp_path


def _args(rules: Path, **kw: object) -> argparse.Namespace:
    return argparse.Namespace(rules=[str(rules)], base=None, since="7d", limit=None, json=True, resolution="5s",
                              **kw)


async def test_one_changed_rule_changes_exactly_the_expected_alerts(recorded: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    new = _copy_rules(recorded / "new")
    devices = new / "30-devices.yaml"
    devices.write_text(devices.read_text().replace("target: {event: [link_down, bgp_down]}",
                                                   "target: {event: link_down}"))
    assert await _run(_args(new)) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["events"] == len(STREAM)  # the derived parent is not replayed
    groups = {(g["rule"], g["change"]): g for g in report["differences"]}
    # bgp_down on sw1 (event 3) and on sw3 (event 8): no longer inhibited, so they page
    assert set(groups) == {("bgp-state", "suppressed or not"), ("bgp-state", "suppression reason"),
                           ("bgp-state", "receivers")}
    sup = groups[("bgp-state", "suppressed or not")]
    assert sup["count"] == 2 and [e["alert"] for e in sup["examples"]] == ["event 3", "event 8"]
    ex = sup["examples"][0]
    assert ex["base"]["created"] == "suppressed" and ex["new"]["created"] == "active"
    assert ex["base"]["suppressed_reason"] == "inhibited by device_down on sw1.ams (rule device-down-hides-links)"
    # sw1's bgp alert paged in the base too, once its device was back; sw3's never did
    assert "ops-chat" in ex["base"]["receivers"] and "ops-chat" in ex["new"]["receivers"]
    late = sup["examples"][1]
    assert late["base"]["receivers"] == [] and "ops-chat" in late["new"]["receivers"]
    (rcv,) = groups[("bgp-state", "receivers")]["examples"]
    assert rcv["alert"] == "event 8"
    assert report["base"]["alerts"] == report["new"]["alerts"] == 7


async def _run(args: argparse.Namespace) -> int:
    from opsconductor.correlate.replay_cli import run_replay

    return await run_replay(args)


async def test_same_rules_no_difference_and_text_output(recorded: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    same = _copy_rules(recorded / "same")
    assert await _run(_args(same, )) == 0
    assert json.loads(capsys.readouterr().out)["changed"] is False
    args = _args(same)
    args.json = False
    assert await _run(args) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"replayed {len(STREAM)} events") and "no difference" in out


async def test_since_limits_the_window_and_bad_rules_exit_2(recorded: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    same = _copy_rules(recorded / "same")
    args = _args(same)
    args.since = "1d"  # only the last two events are newer than a day (T0 is three days ago)
    assert await _run(args) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 0
    (same / "99-bad.yaml").write_text("rules:\n  - id: x\n    drop: true\n")
    assert await _run(_args(same)) == 2
    assert "new rules: " in capsys.readouterr().err


def test_cli_is_registered() -> None:
    from opsconductor.cli.main import build_parser

    args = build_parser().parse_args(["rules", "replay", "--rules", "new", "--since", "2d", "--json"])
    assert (args.func, args.rules, args.since, args.json, args.base) == (cmd_replay, ["new"], "2d", True, None)


def test_derived_events_are_recognised() -> None:
    assert is_derived({"source": "opsconductor", "labels": {"correlated_by": "r"}, "event": "x"})
    assert is_derived({"source": "heartbeat", "event": "heartbeat_missing"})
    assert not is_derived({"source": "opsconductor", "event": "x"})


def _rule_files(rules_dir: Path) -> dict[str, str]:
    return {f.name: f.read_text() for f in rules_dir.glob("*.yaml")}


async def test_replay_api(rules_server, rules_dir: Path) -> None:  # type: ignore[no-untyped-def]
    async with rules_server.client(rules_server.write_key) as c:
        await send(c, *(e for _, e in STREAM[:5]))
    files = _rule_files(rules_dir)
    changed = files["30-devices.yaml"].replace("target: {event: [link_down, bgp_down]}", "target: {event: link_down}")
    async with rules_server.admin as a:
        r = await a.post("/api/v1/rules/replay", json={"rules": {**files, "30-devices.yaml": changed}})
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["changed"] is True and report["events"] == 5
        assert ("bgp-state", "suppressed or not") in {(g["rule"], g["change"]) for g in report["differences"]}
        r = await a.post("/api/v1/rules/replay", json={"rules": files})
        assert r.json()["changed"] is False
        bad = await a.post("/api/v1/rules/replay", json={"rules": {"x.yaml": "rules:\n  - id: x\n    drop: 1\n"}})
        assert bad.status_code == 422 and "x.yaml:3:" in bad.text
        assert (await a.post("/api/v1/rules/replay", json={"rules": {"../x.yaml": "rules: []"}})).status_code == 422
    async with rules_server.client(rules_server.write_key) as c:
        assert (await c.post("/api/v1/rules/replay", json={"rules": files})).status_code == 403


async def test_a_coarse_resolution_keeps_each_events_own_time(tmp_path: Path) -> None:
    """Two members 10 minutes apart must not correlate within 1m, even decided in one slice."""
    from opsconductor.correlate.loader import load_ruleset
    from opsconductor.correlate.replay import LoggedEvent, replay
    from opsconductor.correlate.service import compile_ruleset

    f = tmp_path / "r.yaml"
    f.write_text("rules:\n  - id: c\n    correlate: {when: {event: device_down}, group_by: [labels.site], count: 2,"
                 " within: 1m, raise: {event: site_down, resource: '{labels.site}'}}\n")
    rs, errors = load_ruleset([f])
    assert errors == []
    t = datetime(2026, 1, 5, tzinfo=UTC)
    far = [LoggedEvent(t, {"resource": "a", "event": "device_down", "labels": {"site": "x"}}),
           LoggedEvent(t + timedelta(minutes=10), {"resource": "b", "event": "device_down", "labels": {"site": "x"}})]
    near = [far[0], LoggedEvent(t + timedelta(seconds=30), far[1].payload)]
    work = tmp_path / "w"
    work.mkdir()
    for log, parents in ((far, 0), (near, 1)):
        run = await replay(compile_ruleset(rs), log, workdir=work, resolution_s=3600)
        assert sum(a["event"] == "site_down" for a in run.alerts.values()) == parents
