"""Collection failures are alerts, per target, source and kind, cleared when collection works again.

Real peers: snmpd (v3 user with the right and a wrong key), sshd (two targets on one address,
one with a key sshd refuses), local HTTP fakes (401, 500, an answer without its list).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from opsconductor.model.event import Severity
from opsconductor.sources.kinds import Target, default_registry
from opsconductor.sources.manifest import parse_manifest
from tests.sources.fake_apis import Prtg
from tests.sources.peers import V3_AUTH, V3_PRIV, V3_USER, SnmpAgent, SshServer, free_udp_port
from tests.sources.test_poller import generic, make_poller

SECRETS = ("wrong-auth-key", V3_AUTH, V3_PRIV, "prtg-token-123", "bad-token-456")


def failures(events: list[Any]) -> list[tuple[str, str | None, str | None]]:
    return [(e.event, e.component, e.severity.value if e.severity else None)
            for e in events if e.event.startswith("collection_") or e.event.endswith("_unreachable")]


def no_secret_in(events: list[Any]) -> None:
    text = json.dumps([e.model_dump(mode="json") for e in events])
    for s in SECRETS:
        assert s not in text


async def test_snmp_auth_failure_and_missing_credential_raise_and_clear(snmpd: SnmpAgent, tmp_path: Path) -> None:
    m = generic(tmp_path)
    env = {"V3": json.dumps({"user": V3_USER, "auth_key": "wrong-auth-key", "priv_key": V3_PRIV})}
    poller, _ = make_poller(env)
    t = Target("rtr", "127.0.0.1", port=snmpd.port, addons=("generic-snmp",), credentials={"snmp": "env:V3"},
               labels={"site": "ams"})
    nocred = Target("nocred", "127.0.0.1", port=snmpd.port, addons=("generic-snmp",), credential="env:UNSET")
    poller.configure({"generic-snmp": m}, [t, nocred])
    key = "rtr/generic-snmp/interfaces"
    ev = await poller.run(key)
    assert failures(ev) == [("collection_auth_failure", "generic-snmp/interfaces", "major")]
    assert ev[0].labels == {"site": "ams", "failure": "auth_failure", "protocol": "snmp"}
    assert "SNMP credential refused" in (ev[0].summary or "")
    no_secret_in(ev)
    poller._backoff.clear()  # the test does not wait out the probe interval
    assert failures(await poller.run(key)) == [("collection_auth_failure", "generic-snmp/interfaces", "major")]

    ev = await poller.run("nocred/generic-snmp/interfaces")
    assert failures(ev) == [("collection_missing_credential", "generic-snmp/interfaces", "major")]
    assert "env:UNSET" in (ev[0].summary or "")

    env["V3"] = json.dumps({"user": V3_USER, "auth_key": V3_AUTH, "priv_key": V3_PRIV})  # fixed
    poller._backoff.clear()
    ev = await poller.run(key)
    assert failures(ev) == [("collection_auth_failure", "generic-snmp/interfaces", "clear")]
    assert await poller.run(key) == [], "the clear is said once, up interfaces are not repeated"
    await poller.clients.close()


async def test_failure_kind_change_clears_the_old_one(tmp_path: Path) -> None:
    """auth failure, then the device stops answering: one alert per kind, never both open."""
    port = free_udp_port()
    agent = SnmpAgent(tmp_path / "snmpd", port=port)
    agent.start()
    try:
        m = generic(tmp_path, **{"    kind: snmp\n": "    kind: snmp\n    timeout: 0.5\n    retries: 0\n"})
        poller, _ = make_poller({"C": "not-the-community", "V3": json.dumps({"user": "nobody", "auth_key": "x" * 12,
                                                                           "priv_key": "y" * 12})})
        t = Target("rtr", "127.0.0.1", port=port, addons=("generic-snmp",), credential="env:V3")
        poller.configure({"generic-snmp": m}, [t])
        ev = await poller.run("rtr/generic-snmp/uptime")
        assert failures(ev) == [("collection_auth_failure", "generic-snmp/uptime", "major")]
    finally:
        agent.stop()
    poller._backoff.clear()
    ev = await poller.run("rtr/generic-snmp/uptime")
    # generic-snmp has on_unreachable: the device-level snmp_unreachable is the unreachable alert.
    assert failures(ev) == [("collection_auth_failure", "generic-snmp/uptime", "clear"),
                            ("snmp_unreachable", None, "major")]
    await poller.clients.close()


@pytest.mark.faults  # a long outage in real time
async def test_recovery_shows_within_two_intervals_after_a_long_outage(tmp_path: Path) -> None:
    port = free_udp_port()
    m = generic(tmp_path, **{"interval: 60": "interval: 2", "    kind: snmp\n": "    kind: snmp\n    timeout: 0.5\n"})
    agent = SnmpAgent(tmp_path / "snmpd", port=port)
    poller, got = make_poller({"C": agent.community})
    t = Target("rtr", "127.0.0.1", port=port, addons=("generic-snmp",), credential="env:C")
    poller.configure({"generic-snmp": m}, [t])
    poller.start()
    try:
        await asyncio.sleep(14)  # 7 intervals down: exponential backoff would wait 2, 4, 8... intervals
        assert any(e.event == "snmp_unreachable" and e.severity == Severity.major for e in got.events)
        agent.start()
        back = time.monotonic()
        while not any(e.event == "snmp_unreachable" and e.severity == Severity.clear for e in got.events):
            assert time.monotonic() - back < 2 * 2 + 1.5, "recovery not seen within two intervals"
            await asyncio.sleep(0.1)
    finally:
        poller.stop()
        agent.stop()
        await poller.clients.close()


HTTP_MANIFEST = """
name: api
version: "1"
sources:
  - name: sensors
    kind: http
    interval: 60
    url: "http://{{ target.address }}:{{ target.port }}/api/table.json"
    params: {content: sensors, columns: "objid,device,sensor,status"}
    auth: {type: query, name: apitoken}
    items: sensors
    events:
      - {event: prtg_sensor, when: change, field: status, resource: "{{ device }}",
         severity: {Up: clear, default: major}}
"""


async def test_http_401_500_and_an_answer_without_its_list(tmp_path: Path) -> None:
    prtg = Prtg("prtg-token-123").start()
    try:
        prtg.add_sensor(1, "sw1", "Ping", 3)
        m = parse_manifest(HTTP_MANIFEST, "api.yaml", default_registry())
        env = {"TOKEN": "bad-token-456"}
        poller, _ = make_poller(env)
        t = Target("prtg", "127.0.0.1", port=prtg.port, addons=("api",), credential="env:TOKEN")
        poller.configure({"api": m}, [t])
        key = "prtg/api/sensors"
        ev = await poller.run(key)
        assert failures(ev) == [("collection_auth_failure", "api/sensors", "major")]
        assert "answered 401" in (ev[0].summary or "")
        no_secret_in(ev)

        env["TOKEN"] = "prtg-token-123"
        original = prtg.routes[("GET", "/api/table.json")]
        prtg.routes[("GET", "/api/table.json")] = lambda req: (500, {"error": "database locked"})
        poller._backoff.clear()
        ev = await poller.run(key)
        assert failures(ev) == [("collection_auth_failure", "api/sensors", "clear"),
                                ("collection_http_error", "api/sensors", "major")]

        prtg.routes[("GET", "/api/table.json")] = lambda req: (200, {"prtg-version": "23.4", "error": "busy"})
        poller._backoff.clear()
        ev = await poller.run(key)
        assert failures(ev) == [("collection_http_error", "api/sensors", "clear"),
                                ("collection_parse_failure", "api/sensors", "major")]
        assert "has no 'sensors'" in (ev[1].summary or "")

        prtg.routes[("GET", "/api/table.json")] = original
        poller._backoff.clear()
        ev = await poller.run(key)
        assert failures(ev) == [("collection_parse_failure", "api/sensors", "clear")]
        # First sight of the sensor (Up): its clear, as on any first poll.
        assert [(e.resource, e.severity) for e in ev if not e.event.startswith("collection_")] == [
            ("sw1", Severity.clear)]
        await poller.clients.close()
    finally:
        prtg.stop()


SSH_MANIFEST = """
name: cli
version: "1"
sources:
  - name: alarms
    kind: ssh
    interval: 60
    command: show alarms
    parser: {type: regex, pattern: '^(?P<object>\\S+) (?P<sev>\\S+)$'}
    events:
      - {event: alarm, when: present, component: "{{ object }}", severity: "{{ sev }}"}
"""


async def test_ssh_connections_are_keyed_by_the_whole_credential(tmp_path: Path) -> None:
    """Two targets on one sshd: the one with a key sshd refuses never rides on the other's session."""
    sshd = SshServer(tmp_path / "sshd").start()
    try:
        sshd.set_output("show alarms", "1/1 major\n")
        other = tmp_path / "other_key"
        keygen = await asyncio.create_subprocess_exec(sshd.keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(other))
        assert await keygen.wait() == 0
        bad = json.dumps({"username": sshd.user, "private_key": other.read_text()})
        m = parse_manifest(SSH_MANIFEST, "cli.yaml", default_registry())
        poller, _ = make_poller({"GOOD": sshd.credential_json(), "BAD": bad})
        good_t = Target("good", "127.0.0.1", port=sshd.port, addons=("cli",), credential="env:GOOD")
        bad_t = Target("bad", "127.0.0.1", port=sshd.port, addons=("cli",), credential="env:BAD")
        poller.configure({"cli": m}, [good_t, bad_t])
        ev = await poller.run("good/cli/alarms")
        assert [(e.component, e.severity.value if e.severity else None) for e in ev] == [("1/1", "major")]
        for _ in range(3):
            poller._backoff.clear()
            ev = await poller.run("bad/cli/alarms")
            assert failures(ev) == [("collection_auth_failure", "cli/alarms", "major")], ev
        assert "BEGIN OPENSSH" not in json.dumps([e.model_dump(mode="json") for e in ev])
        assert poller.clients.ssh.open_connections == 1
        await poller.clients.close()
    finally:
        sshd.stop()


async def test_file_credentials_resolve_inside_the_credentials_directory_only(snmpd: SnmpAgent, tmp_path: Path) -> None:
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "rtr.community").write_text(snmpd.community + "\n")
    (tmp_path / "stray.community").write_text(snmpd.community)
    m = generic(tmp_path)
    poller, _ = make_poller({})
    poller.credentials_dir = creds
    inside = Target("inside", "127.0.0.1", port=snmpd.port, addons=("generic-snmp",), credential="file:rtr.community")
    outside = Target("outside", "127.0.0.1", port=snmpd.port, addons=("generic-snmp",),
                     credential=f"file:{tmp_path / 'stray.community'}")
    poller.configure({"generic-snmp": m}, [inside, outside])
    assert failures(await poller.run("inside/generic-snmp/uptime")) == []
    ev = await poller.run("outside/generic-snmp/uptime")
    assert failures(ev) == [("collection_missing_credential", "generic-snmp/uptime", "major")]
    assert "outside the credentials directory" in (ev[0].summary or "")
    await poller.clients.close()


async def test_a_failure_alert_left_open_is_cleared_by_the_next_working_poll(snmpd: SnmpAgent, tmp_path: Path) -> None:
    """After a restart the poll state is gone; the open alert table still tells what to clear."""
    m = generic(tmp_path)
    poller, _ = make_poller({"C": snmpd.community})
    poller.configure({"generic-snmp": m}, [Target("rtr", "127.0.0.1", port=snmpd.port, addons=("generic-snmp",),
                                                  credential="env:C")])

    async def still_open() -> frozenset[tuple[str, str, str]]:
        return frozenset({("rtr", "collection_auth_failure", "generic-snmp/uptime")})

    poller.open_conditions = still_open
    ev = await poller.run("rtr/generic-snmp/uptime")
    assert failures(ev) == [("collection_auth_failure", "generic-snmp/uptime", "clear")]
    await poller.clients.close()
