"""Config that can't go silently wrong: start-up refusals, and a truncate-then-write during a stream."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from opsconductor.correlate.service import RulesService
from opsconductor.store.alert_writer import ALERTS
from tests.safety.support import eventually, self_alert_status
from tests.support.server import start_live_server

SERVER = Path(__file__).resolve().parents[2] / "server"


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(SERVER), "OPSCONDUCTOR_DATA_DIR": str(tmp_path / "data"),
            "OPSCONDUCTOR_ADDONS_DIR": str(tmp_path / "addons"), **env}
    return subprocess.run([sys.executable, "-m", "opsconductor", "serve", "--port", "1"], env=full, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def test_invalid_rules_addons_and_notify_refuse_to_start_with_one_line_per_error(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "10-lab.yaml").write_text("rules:\n  - id: lab\n    when: {labels.env: lab}\n    drop: maybe\n")
    (rules / "notify.yaml").write_text("receivers:\n  hook: {kind: carrier-pigeon}\nroute: {receiver: hook}\n")
    addon = tmp_path / "addons" / "bad"
    addon.mkdir(parents=True)
    (addon / "addon.yaml").write_text("name: bad\nversion: '1'\nsources: 7\n")
    proc = serve(tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith(("rules/", "addons/", str(tmp_path)))]
    assert "rules/10-lab.yaml:4:5: drop must be true" in lines
    assert "rules/notify.yaml:2:10: receiver 'hook': kind must be one of webhook, slack, teams, mattermost, " \
           "pagerduty, opsgenie, jira, servicenow" in lines
    assert f"{tmp_path}/addons/bad/addon.yaml:3:1: 7 is not of type 'array'" in lines
    assert proc.stderr.rstrip().endswith(f"opsconductor: not started: {len(lines)} configuration error(s)")


def test_a_missing_rules_dir_refuses_to_start(tmp_path: Path) -> None:
    proc = serve(tmp_path, OPSCONDUCTOR_RULES_DIR=str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert f"{tmp_path}/nope: rules directory not found" in proc.stderr


RULES = "rules:\n  - id: lab\n    when: {labels.env: lab}\n    drop: true\n"


async def test_truncate_then_write_during_a_stream_never_runs_without_the_rules(
    settings_factory: Any, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    path = rules / "10-lab.yaml"
    path.write_text(RULES)
    settings = settings_factory(rules_dir=rules, rules_watch=True, rules_settle_s=0.2, rules_engine_worker=False,
                                selfmon_interval_s=0.1)
    async with start_live_server(settings) as server, server.client(server.write_key) as c:
        svc = server.runtime.rules
        assert isinstance(svc, RulesService)
        stop = asyncio.Event()
        sent = 0

        async def stream() -> None:
            nonlocal sent
            while not stop.is_set():
                r = await c.post("/api/v1/events", json={"resource": f"lab{sent}", "event": "e",
                                                         "labels": {"env": "lab"}})
                assert r.status_code == 202
                sent += 1
                await asyncio.sleep(0.005)

        task = asyncio.create_task(stream())
        try:
            path.write_bytes(b"")  # truncate ... (a non-atomic rewrite, as the issue saw)
            await eventually(lambda: not svc.status.ok)  # the watcher saw the empty file and refused it
            assert "empty or truncated" in svc.status.errors[0]
            assert svc.status.errors[0].startswith(f"{path}:1:1: ")
            await eventually(lambda: self_alert_status(server, str(path), "rules_reload_refused"))
            await asyncio.sleep(1.8 - 0.2)
            path.write_text(RULES)  # ... then write
            await eventually(lambda: svc.status.ok)
        finally:
            stop.set()
            await task
        await server.runtime.pipeline.drain()
        async with server.runtime.db.read() as conn:
            leaked = (await conn.execute(select(ALERTS.c.resource).where(ALERTS.c.resource.like("lab%")))).all()
        assert sent > 50 and leaked == []  # every lab event was dropped, none became an alert
        assert await eventually(
            lambda: self_alert_status(server, str(path), "rules_reload_refused")) in ("active", "resolved")


async def test_an_explicit_empty_rules_list_removes_the_rules(settings_factory: Any, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "10-lab.yaml").write_text(RULES)
    settings = settings_factory(rules_dir=rules, rules_watch=False, rules_engine_worker=False)
    async with start_live_server(settings) as server:
        svc = server.runtime.rules
        (rules / "10-lab.yaml").write_text("rules: []\n")
        status = await svc.reload()
        assert status.ok and status.rules == 0


async def test_an_emptied_notify_file_is_refused_but_an_explicit_empty_one_is_not(
    settings_factory: Any, tmp_path: Path
) -> None:
    notify = tmp_path / "notify.yaml"
    notify.write_text('receivers:\n  hook: {kind: webhook, url: "http://127.0.0.1:9/h"}\nroute: {receiver: hook}\n')
    async with start_live_server(settings_factory(notify_file=notify)) as server, server.client(server.admin_key) as c:
        notify.write_bytes(b"")
        r = await c.post("/api/v1/receivers/reload")
        assert r.status_code == 422 and "empty or truncated" in r.text, r.text
        svc = server.runtime.notify
        assert list(svc.config.receivers) == ["hook"] and "empty or truncated" in svc.last_error
        notify.write_text("receivers: {}\n")
        assert (await c.post("/api/v1/receivers/reload")).status_code == 200
        assert svc.config.receivers == {} and svc.last_error is None


async def test_a_rules_dir_that_disappears_is_refused_while_rules_run(settings_factory: Any, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "10-lab.yaml").write_text(RULES)
    settings = settings_factory(rules_dir=rules, rules_watch=False, rules_engine_worker=False)
    async with start_live_server(settings) as server:
        svc = server.runtime.rules
        (rules / "10-lab.yaml").unlink()
        rules.rmdir()
        status = await svc.reload()
        assert not status.ok and status.errors == [
            f"{rules}: rules directory not found: it would remove all 1 running rules; refused (keep the folder, "
            "even empty)"]
        assert len(svc.correlator.current.ruleset.rules) == 1


async def test_a_server_whose_rules_were_refused_at_start_is_not_ready(settings_factory: Any, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "10-lab.yaml").write_text(RULES.replace("drop: true", "drop: maybe"))
    settings = settings_factory(rules_dir=rules, rules_watch=False, rules_engine_worker=False)
    async with start_live_server(settings) as server, server.client() as c:  # the library path, not `serve`
        r = await c.get("/readyz")
        assert r.status_code == 503 and "no rule set is live" in r.text and "10-lab.yaml:4:5" in r.text
        (rules / "10-lab.yaml").write_text(RULES)
        assert server.runtime.rules is not None and (await server.runtime.rules.reload()).ok
        assert (await c.get("/readyz")).status_code == 200
