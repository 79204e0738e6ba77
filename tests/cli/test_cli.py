"""The opsconductor command line against a real server process and a real SQLite file."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.process import ServerProcess


def cli(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opsconductor", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120, input=stdin)


def test_keys_create_list_revoke_and_db_upgrade(tmp_path: Path) -> None:
    env = {"OPSCONDUCTOR_DATA_DIR": str(tmp_path)}
    up = cli("db", "upgrade", env=env)
    assert up.returncode == 0, up.stderr
    created = cli("keys", "create", "--name", "grafana", "--scope", "write", env=env)
    key = created.stdout.strip()
    assert created.returncode == 0 and key.startswith("opsc_") and len(key) > 40
    again = cli("keys", "create", "--name", "grafana", env=env)
    assert again.returncode == 2 and "already exists" in again.stderr
    listed = cli("keys", "list", env=env)
    assert "grafana\twrite" in listed.stdout and key not in listed.stdout
    assert cli("keys", "revoke", "grafana", env=env).returncode == 0
    assert "revoked" in cli("keys", "list", env=env).stdout
    missing = cli("keys", "revoke", "nobody", env=env)
    assert missing.returncode == 2 and "no active API key" in missing.stderr


def test_first_start_writes_admin_key_and_events_send_then_alerts_list(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "srv")
    server.start()
    try:
        assert oct((server.data_dir / "admin.key").stat().st_mode & 0o777) == "0o600"
        key = server.admin_key
        assert key not in server.log.read_text()  # the key is never logged
        events = tmp_path / "events.ndjson"
        ev = {"resource": "rtr1.ams", "event": "link_down", "component": "ge-0/0/1", "severity": "major"}
        events.write_text("\n".join(json.dumps(ev) for _ in range(3)) + "\n")
        env = {"OPSCONDUCTOR_URL": server.url, "OPSCONDUCTOR_API_KEY": key}
        sent = cli("events", "send", str(events), "--wait", env=env)
        assert sent.returncode == 0, sent.stderr
        assert [r["outcome"] for r in json.loads(sent.stdout)["results"]] == ["created", "deduplicated", "deduplicated"]
        listed = cli("alerts", "list", env=env)
        assert listed.returncode == 0
        (row,) = [line for line in listed.stdout.splitlines() if "rtr1.ams" in line]
        assert "active" in row and "major" in row and " 2 " in row and "ge-0/0/1" in row
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps([ev, {**ev, "severity": "huge"}]))
        failed = cli("events", "send", str(bad), env=env)
        assert failed.returncode == 1 and "[1] severity" in failed.stderr
    finally:
        server.stop()


@pytest.mark.faults
def test_kill_9_during_ingest_loses_and_double_counts_nothing(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "srv")
    server.start()
    key = server.admin_key
    accepted: list[int] = []
    stop = threading.Event()

    def feed() -> None:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=5) as c:
            i = 0
            while not stop.is_set():
                batch = [{"resource": f"r{(i + j) % 50}", "event": "cpu_high", "severity": "minor"} for j in range(200)]
                i += 200
                try:
                    r = c.post("/api/v1/events", json=batch)
                except httpx.HTTPError:
                    return
                if r.status_code == 202:
                    accepted.extend(r.json()["ids"])

    t = threading.Thread(target=feed)
    t.start()
    time.sleep(1.5)
    server.kill9()
    stop.set()
    t.join()
    assert len(accepted) >= 200
    server.start()  # restart: unprocessed events in the log are processed
    try:
        db = sqlite3.connect(server.data_dir / "opsconductor.db")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if db.execute("SELECT count(*) FROM events WHERE processed = 0").fetchone()[0] == 0:
                break
            time.sleep(0.2)
        stored_ids = {r[0] for r in db.execute("SELECT id FROM events")}
        unprocessed = db.execute("SELECT count(*) FROM events WHERE processed = 0").fetchone()[0]
        counted = db.execute("SELECT sum(duplicate_count + 1) FROM alerts").fetchone()[0]
        db.close()
        assert set(accepted) <= stored_ids  # every 202 is in the log
        assert unprocessed == 0
        assert counted == len(stored_ids)  # each stored event counted exactly once
    finally:
        server.stop()


async def test_servers_starting_together_on_a_fresh_database_make_one_admin_key(settings_factory, tmp_path: Path
                                                                                 ) -> None:  # type: ignore[no-untyped-def]
    """Two nodes starting at the same moment on one empty database: one creates the first admin
    key, the other starts without one (it used to die with 'an API key named admin already exists')."""
    import asyncio

    from sqlalchemy import func, select

    from opsconductor.cli.server_cmds import ensure_admin_key
    from opsconductor.store.api_keys import KEYS
    from opsconductor.store.db import Database

    nodes = [settings_factory(data_dir=tmp_path / f"node{i}") for i in range(4)]
    written = await asyncio.gather(*(ensure_admin_key(s) for s in nodes))
    assert len([p for p in written if p is not None]) == 1
    db = Database(nodes[0].effective_database_url)
    try:
        async with db.read() as conn:
            assert (await conn.execute(select(func.count()).select_from(KEYS))).scalar_one() == 1
    finally:
        await db.dispose()
