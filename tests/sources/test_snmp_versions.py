"""Per-device SNMP on one addon: v1, v2c and v3 targets polled by the same generic-snmp source,
and SNMPv3 recovering after the agent's engine ID changed (rediscovery, no outage alert)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from opsconductor.sources.kinds import Target
from tests.sources.peers import V3_AUTH, V3_PRIV, V3_USER, SnmpAgent
from tests.sources.test_collection_failures import failures
from tests.sources.test_poller import generic, make_poller


async def test_v1_v2c_v3_targets_on_one_addon(snmpd: SnmpAgent, tmp_path: Path) -> None:
    snmpd.set_interface(2, "ge-0/0/2", "GigabitEthernet 2", oper=2)
    m = generic(tmp_path)  # no `version:` in the manifest: each target's credential says
    poller, _ = make_poller({
        "V1": json.dumps({"version": "1", "community": snmpd.community}),
        "V2": snmpd.community,
        "V3": json.dumps({"user": V3_USER, "auth_key": V3_AUTH, "priv_key": V3_PRIV}),
    })
    targets = [Target(f"rtr-{v}", "127.0.0.1", port=snmpd.port, addons=("generic-snmp",),
                      credentials={"snmp": f"env:{v}"}) for v in ("V1", "V2", "V3")]
    poller.configure({"generic-snmp": m}, targets)
    for t in targets:
        events = await poller.run(f"{t.name}/generic-snmp/interfaces")
        assert [(e.resource, e.component, e.severity.value if e.severity else None) for e in events] == [
            (t.name, "ge-0/0/1", "clear"), (t.name, "ge-0/0/2", "major")], t.name
    assert all(s["last_error"] is None for s in poller.status() if s["source"] == "interfaces")
    await poller.clients.close()


async def test_snmpv3_recovers_after_the_engine_id_changed(tmp_path: Path) -> None:
    agent = SnmpAgent(tmp_path / "snmpd")
    agent.engine_id = "0x80001f8880aabbccdd01"
    agent.set_interface(1, "ge-0/0/1", "GigabitEthernet 1", oper=1)
    agent.start()
    try:
        m = generic(tmp_path, **{"    kind: snmp\n": "    kind: snmp\n    timeout: 1\n"})
        poller, _ = make_poller({"V3": json.dumps({"user": V3_USER, "auth_key": V3_AUTH, "priv_key": V3_PRIV})})
        t = Target("rtr", "127.0.0.1", port=agent.port, addons=("generic-snmp",), credential="env:V3")
        poller.configure({"generic-snmp": m}, [t])
        assert failures(await poller.run("rtr/generic-snmp/uptime")) == []
        # The device is replaced (or its SNMP configuration reset): same address, new engine ID.
        agent.stop()
        shutil.rmtree(agent.dir / "persist", ignore_errors=True)
        agent.engine_id = "0x80001f8880aabbccdd02"
        agent.start()
        for _ in range(2):
            events = await poller.run("rtr/generic-snmp/uptime")
            assert failures(events) == [], "rediscovered within the same poll: no outage alert"
        assert [s["last_error"] for s in poller.status() if s["source"] == "uptime"] == [None]
        await poller.clients.close()
    finally:
        agent.stop()


def test_one_usm_protocol_table_for_manifests_and_traps() -> None:
    from opsconductor.sources import snmp_trap_service
    from opsconductor.sources.kinds import default_registry
    from opsconductor.sources.manifest import parse_manifest
    from opsconductor.sources.snmp_usm import AUTH_PROTOCOLS, PRIV_PROTOCOLS

    m = parse_manifest("""
name: t
version: "1"
sources:
  - {name: s, kind: snmp, version: "3", auth_protocol: sha1, priv_protocol: 3des, scalars: {u: 1.3.6.1.2.1.1.3.0}}
""", "t.yaml", default_registry())
    spec = m.sources[0].spec
    assert (spec.auth_protocol, spec.priv_protocol) == ("sha1", "3des")
    assert snmp_trap_service.AUTH_PROTOCOLS is AUTH_PROTOCOLS and snmp_trap_service.PRIV_PROTOCOLS is PRIV_PROTOCOLS
