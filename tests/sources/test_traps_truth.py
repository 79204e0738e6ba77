"""Traps tell the truth: target labels on every trap event, the catch-all keeps its varbinds as
labels (bounded), an SNMPv3 trap with a wrong key is counted and logged (never the key), and a v1
trap through a relay can be attributed to its agent-addr. Real ``snmptrap`` -> the receiver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.sources.test_traps_e2e import (
    COMMUNITY,
    LINK_DOWN,
    SENDER_ENGINE,
    USER,
    Sender,
    _having,
    alerts,
    eventually,
    link_varbinds,
    trap_settings,
)
from tests.support.server import start_live_server


async def test_labels_varbinds_v3_auth_failures_and_v1_relays(
    tmp_path: Path, settings_factory: Any, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = trap_settings(tmp_path, settings_factory, monkeypatch)
    manifest = tmp_path / "addons" / "snmp-traps" / "addon.yaml"
    relay = "    kind: snmp_trap\n    agent_address: v1_agent_addr\n"
    text = manifest.read_text().replace("    kind: snmp_trap\n", relay)
    manifest.write_text(text)
    (tmp_path / "inventory.yaml").write_text(
        "targets:\n  - name: lab-rtr2\n    address: 127.0.0.2\n    labels: {site: ams, role: edge}\n")
    async with start_live_server(settings) as server:
        send = Sender(tmp_path, settings.trap_port)
        # the target's labels are on its trap events
        rc, out = await send.v2c(LINK_DOWN, *link_varbinds(4, "ge-0/0/4", admin=1, oper=2), source="127.0.0.2")
        assert rc == 0, out
        (down,) = await eventually(lambda: alerts(server, event="link_down"), 10, "the linkDown alert")
        assert (down["resource"], down["labels"]["site"], down["labels"]["role"]) == ("lab-rtr2", "ams", "edge")

        # the catch-all keeps its varbinds as labels, at most 20
        vbs = [x for i in range(30) for x in (f"1.3.6.1.4.1.99999.1.{i}.0", "s", f"value-{i}")]
        rc, out = await send.v2c("1.3.6.1.4.1.99999.0.9", *vbs)
        assert rc == 0, out
        (other,) = await eventually(lambda: alerts(server, event="snmp_trap"), 10, "the catch-all alert")
        carried = {k: v for k, v in other["labels"].items() if k.startswith("1.3.6.1.4.1.99999.1.")}
        assert len(carried) == 20 and carried["1.3.6.1.4.1.99999.1.0.0"] == "value-0"

        # a v1 trap relayed from 127.0.0.1 on behalf of agent-addr 127.0.0.2 is lab-rtr2's
        rc, out = await send.run("snmptrap", "-v", "1", "-c", COMMUNITY, f"127.0.0.1:{settings.trap_port}",
                                 "1.3.6.1.4.1.99999", "127.0.0.2", "2", "0", "", "1.3.6.1.2.1.2.2.1.1.6", "i", "6")
        assert rc == 0, out
        v1 = await eventually(lambda: alerts(server, event="link_down", component="6"), 10, "the v1 linkDown")
        assert v1[0]["resource"] == "lab-rtr2" and v1[0]["labels"]["site"] == "ams"

        # an SNMPv3 trap with a wrong auth key: dropped, counted and logged, the key never shown
        rc, out = await send.run("snmptrap", "-v", "3", "-e", SENDER_ENGINE, "-u", USER["user"], "-l", "authPriv",
                                 "-a", "SHA", "-A", "wrong-auth-key-999", "-x", "AES", "-X", USER["priv_key"],
                                 f"127.0.0.1:{settings.trap_port}", "", LINK_DOWN)
        assert rc == 0, out

        async def metrics() -> str:
            async with server.client() as c:
                return (await c.get("/metrics")).text

        counted = 'opsconductor_snmp_traps_total{outcome="v3_auth_failure"} 1.0'
        text = await eventually(lambda: _having(metrics(), counted), 10, "the v3 auth failure to be counted")
        assert "wrong-auth-key-999" not in text
    # The receiver runs in its own process and logs to the server's stderr.
    err = capfd.readouterr().err
    assert "SNMPv3 trap from 127.0.0.1 dropped" in err
    for secret in ("wrong-auth-key-999", USER["auth_key"], USER["priv_key"], COMMUNITY):
        assert secret not in err
