"""The daily CLI actions as child processes against a real server process (alerts and silences)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from opsconductor.cli.alert_cmds import age, silence_matchers
from opsconductor.errors import InputError
from tests.cli.test_cli import cli
from tests.support.process import ServerProcess
from tests.support.server import free_port

EVENTS = [
    {"resource": "rtr1.ams", "event": "link_down", "component": "ge-0/0/1", "severity": "major",
     "summary": "uplink to core-1 lost carrier", "labels": {"site": "ams"}},
    {"resource": "sw9.fra", "event": "fan_fail", "severity": "minor", "summary": "fan 2 stopped",
     "labels": {"site": "fra"}},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("cli-actions") / "srv")
    srv.start()
    try:
        r = httpx.post(f"{srv.url}/api/v1/events", params={"wait": "true"}, json=EVENTS,
                       headers={"Authorization": f"Bearer {srv.admin_key}"}, timeout=30)
        assert r.status_code == 200, r.text
        yield srv
    finally:
        srv.stop()


def _env(server: ServerProcess) -> dict[str, str]:
    return {"OPSCONDUCTOR_URL": server.url, "OPSCONDUCTOR_API_KEY": server.admin_key}


def _id(server: ServerProcess, resource: str) -> int:
    out = cli("alerts", "list", "--json", "--status", "active", "--status", "acknowledged", "--status",
              "suppressed", "--status", "resolved", env=_env(server))
    (alert,) = [a for a in json.loads(out.stdout) if a["resource"] == resource]
    return int(alert["id"])


def test_list_show_ack_note_history_resolve(server: ServerProcess) -> None:
    env = _env(server)
    listed = cli("alerts", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == ["ID", "STATUS", "SEVERITY", "AGE", "DUP", "RESOURCE", "EVENT",
                                                     "SUMMARY"]
    (row,) = [line for line in listed.stdout.splitlines() if "rtr1.ams" in line]
    assert "link_down ge-0/0/1" in row and "uplink to core-1 lost carrier" in row
    assert re.search(r" major +\d+s +0  rtr1\.ams ", row)  # severity, age, duplicates
    assert listed.stderr == ""  # no request log lines on the terminal
    only = cli("alerts", "list", "--label", "site:fra", "--severity", "minor", "-q", "FAN", env=env).stdout
    assert "sw9.fra" in only and "rtr1.ams" not in only
    assert "no open alerts matching" in cli("alerts", "list", "--resource", "nope", env=env).stdout

    aid = _id(server, "rtr1.ams")
    acked = cli("alerts", "ack", str(aid), "--text", "looking at it", env=env)
    assert acked.returncode == 0, acked.stderr
    assert acked.stdout.strip() == f"alert {aid}: acknowledged (rtr1.ams link_down)"
    assert cli("alerts", "note", str(aid), "carrier replaced the SFP", env=env).returncode == 0

    shown = cli("alerts", "show", str(aid), env=env)
    assert shown.returncode == 0, shown.stderr
    fields = dict(line.split(":", 1) for line in shown.stdout.splitlines() if ":" in line)
    assert fields["status"].strip() == "acknowledged"
    assert fields["summary"].strip() == "uplink to core-1 lost carrier"
    assert fields["labels"].strip() == "site=ams"
    assert "carrier replaced the SFP" in shown.stdout

    history = cli("alerts", "history", str(aid), env=env)
    assert history.returncode == 0, history.stderr
    kinds = [line.split()[1] for line in history.stdout.splitlines()[1:]]
    assert kinds == ["created", "ack", "note"]
    assert "looking at it" in history.stdout

    assert cli("alerts", "unack", str(aid), env=env).stdout.strip() == f"alert {aid}: active (rtr1.ams link_down)"
    other = _id(server, "sw9.fra")
    both = cli("alerts", "resolve", str(aid), str(other), "--text", "fixed", env=env)
    assert both.returncode == 0, both.stderr
    assert both.stdout.count(": resolved") == 2
    assert "no open alerts" in cli("alerts", "list", env=env).stdout


def test_silences_add_list_expire(server: ServerProcess) -> None:
    env = _env(server)
    added = cli("silences", "add", "resource=sw9.fra", "labels.site=~fr.*", "--duration", "2h",
                "--comment", "CHG-9 fan swap", env=env)
    assert added.returncode == 0, added.stderr
    sid = int(added.stdout.split()[1])
    assert " active until " in added.stdout

    got = httpx.get(f"{server.url}/api/v1/silences/{sid}", headers={"Authorization": f"Bearer {server.admin_key}"})
    assert got.json()["matchers"] == {"resource": "sw9.fra", "labels.site": {"regex": "fr.*"}}

    listed = cli("silences", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    (row,) = [line for line in listed.stdout.splitlines()[1:] if line.split()[0] == str(sid)]
    assert "active" in row and "CHG-9 fan swap" in row and "resource=sw9.fra" in row

    assert cli("silences", "expire", str(sid), env=env).stdout.strip() == f"silence {sid} expired"
    assert str(sid) not in [line.split()[0] for line in cli("silences", "list", env=env).stdout.splitlines()[1:]]
    assert "expired" in cli("silences", "list", "--all", env=env).stdout

    again = cli("silences", "expire", str(sid), env=env)
    assert again.returncode == 1 and again.stderr.strip() == f"silence {sid}: 409 Conflict: silence {sid} has " \
                                                              "already ended"
    bad = cli("silences", "add", "resource=~(", "--comment", "x", env=env)
    assert bad.returncode != 0 and "bad regex" in bad.stderr and "Traceback" not in bad.stderr


def test_one_line_errors(server: ServerProcess) -> None:
    env = _env(server)
    missing = cli("alerts", "show", "999999", env=env)
    assert missing.returncode == 1 and missing.stderr.strip() == "404 Not found: no alert with id 999999"
    wrong_key = cli("alerts", "ack", "1", env={**env, "OPSCONDUCTOR_API_KEY": "opsc_wrong"})
    assert wrong_key.returncode == 1
    assert wrong_key.stderr.strip() == "alert 1: 401 Unauthorized: invalid or revoked API key"
    assert "opsc_wrong" not in wrong_key.stderr + wrong_key.stdout  # the key is never echoed
    down = f"http://127.0.0.1:{free_port()}"
    for args in (("alerts", "list"), ("alerts", "show", "1"), ("silences", "list"), ("alerts", "ack", "1")):
        out = cli(*args, "--url", down, env=env)
        assert out.returncode == 2, out
        assert out.stderr.startswith(f"opsconductor: cannot reach the server at {down}:")
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_age_and_matcher_parsing() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    assert age((now - timedelta(seconds=42)).isoformat(), now) == "42s"
    assert age((now - timedelta(minutes=90)).isoformat(), now) == "1h"
    assert age("2025-12-30T00:00:00Z", now) == "3d"
    assert silence_matchers(["alertname=link_down", "site!=lab", 'component=~"ge-.*"']) == {
        "event": "link_down", "labels.site": {"not": "lab"}, "component": {"regex": "ge-.*"}}
    with pytest.raises(InputError):
        silence_matchers(["no-operator"])


def test_key_from_data_dir_and_help_documents_env(server: ServerProcess, tmp_path: Path) -> None:
    # no key given: the server's data/admin.key is used (run from the server's data dir)
    out = cli("alerts", "list", "--url", server.url, env={"OPSCONDUCTOR_DATA_DIR": str(server.data_dir),
                                                         "OPSCONDUCTOR_API_KEY": ""})
    assert out.returncode == 0, out.stderr
    helptext = cli("silences", "add", "--help", env={}).stdout
    assert "$OPSCONDUCTOR_URL" in helptext and "$OPSCONDUCTOR_API_KEY" in helptext


def test_docs_silence_example_runs(server: ServerProcess) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    (line,) = [x.strip() for x in doc.splitlines() if x.startswith("    opsconductor silences add ")]
    args = shlex.split(line)[1:]
    out = cli(*args, env=_env(server))
    assert out.returncode == 0, out.stderr
    sid = int(out.stdout.split()[1])
    got = httpx.get(f"{server.url}/api/v1/silences/{sid}", headers={"Authorization": f"Bearer {server.admin_key}"})
    assert got.json()["matchers"] == {"resource": "rtr1.ams", "labels.site": {"regex": "ams.*"}}
    assert got.json()["comment"] == "CHG-1234 optics"
