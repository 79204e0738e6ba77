"""MIB names in manifests: the resolver, manifests with names against a real snmpd, and errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opsconductor.errors import ConfigError, ConfigErrors
from opsconductor.sources.kinds import Target, default_registry
from opsconductor.sources.manifest import load_manifest, parse_manifest
from opsconductor.sources.mibs import MibError, MibResolver
from opsconductor.sources.snmp_trap import ReceivedTrap, TrapTable, traps_to_events
from tests.sources.peers import SnmpAgent
from tests.sources.test_cli import run
from tests.sources.test_poller import make_poller

REPO = Path(__file__).resolve().parents[2]


# -- the resolver ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mibs() -> MibResolver:
    return MibResolver()


@pytest.mark.parametrize(("text", "oid"), [
    ("IF-MIB::ifOperStatus", "1.3.6.1.2.1.2.2.1.8"),
    ("ifHCInOctets", "1.3.6.1.2.1.31.1.1.1.6"),  # a bare name: looked up in the default MIBs
    ("SNMPv2-MIB::sysName.0", "1.3.6.1.2.1.1.5.0"),  # instance suffix kept
    ("IF-MIB::ifOperStatus.12", "1.3.6.1.2.1.2.2.1.8.12"),
    ("IF-MIB::linkDown", "1.3.6.1.6.3.1.1.5.3"),  # a notification
    ("UPS-MIB::upsBatteryStatus", "1.3.6.1.2.1.33.1.2.1"),  # a module outside the defaults loads on demand
    ("1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.3.0"),  # numeric passes through
    (".1.3.6.1.4.1.9.9", "1.3.6.1.4.1.9.9"),
])
def test_names_resolve_to_numeric_oids(mibs: MibResolver, text: str, oid: str) -> None:
    assert mibs.resolve(text) == oid


@pytest.mark.parametrize(("text", "message"), [
    ("NO-SUCH-MIB::ifOperStatus", "unknown MIB module 'NO-SUCH-MIB'"),
    ("IF-MIB::ifOperStatuz", "unknown MIB object 'ifOperStatuz' in IF-MIB"),
    ("ifOperStatuz", "unknown MIB object 'ifOperStatuz' (not in the default MIBs"),
    ("1.3.6.one", "not an OID or a MIB name: '1.3.6.one'"),
])
def test_unknown_names_say_what_is_unknown(mibs: MibResolver, text: str, message: str) -> None:
    with pytest.raises(MibError) as info:
        mibs.resolve(text)
    assert str(info.value).startswith(message)


def test_oids_named_where_a_mib_is_loaded(mibs: MibResolver) -> None:
    mibs.resolve("ifIndex")  # loads the defaults
    assert mibs.name("1.3.6.1.2.1.2.2.1.8.5") == "IF-MIB::ifOperStatus.5"
    assert mibs.name("1.3.6.1.6.3.1.1.5.4") == "IF-MIB::linkUp"
    assert mibs.name("1.3.6.1.2.1.15.3.1.2.10.0.0.1") == "BGP4-MIB::bgpPeerState.10.0.0.1"
    # only the SMI's tree (enterprises.99999...) knows it: a name that says no more than the number
    assert mibs.name("1.3.6.1.4.1.99999.1.0") is None
    assert mibs.label("1.3.6.1.4.1.99999.1.0") == "1.3.6.1.4.1.99999.1.0"


def test_numeric_only_configuration_loads_no_mib() -> None:
    fresh = MibResolver()
    assert fresh.resolve("1.3.6.1.2.1.2.2.1.8") == "1.3.6.1.2.1.2.2.1.8"
    assert fresh.loaded() == set() and fresh.name("1.3.6.1.2.1.2.2.1.8") is None


# -- manifests -------------------------------------------------------------------------
SOURCE = """name: {name}
version: "1"
sources:
  - name: ports
    kind: snmp
    interval: 60
    scalars: {{sysName: {sys_name}, sysLocation: {sys_location}}}
    table:
      index: ifIndex
      columns: {{ifOperStatus: {oper}, ifName: {if_name}, ifDescr: {descr}}}
    fields:
      ifOperStatus: {{map: if_oper_status}}
    events:
      - event: link_down
        when: change
        field: ifOperStatus
        component: "{{{{ ifName }}}}"
        severity: {{up: clear, down: major, default: warning}}
        summary: >-
          {{{{ ifName }}}} ({{{{ ifDescr }}}}) on {{{{ sysName }}}} at {{{{ sysLocation }}}} is {{{{ ifOperStatus }}}}
"""
NUMERIC = SOURCE.format(name="numeric", sys_name="1.3.6.1.2.1.1.5.0", sys_location=".1.3.6.1.2.1.1.6.0",
                        oper="1.3.6.1.2.1.2.2.1.8", if_name="1.3.6.1.2.1.31.1.1.1.1", descr="1.3.6.1.2.1.2.2.1.2")
NAMED = SOURCE.format(name="named", sys_name="SNMPv2-MIB::sysName.0", sys_location="sysLocation.0",
                      oper="IF-MIB::ifOperStatus", if_name="ifName", descr="IF-MIB::ifDescr")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / "addons" / name / "addon.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_shipped_addons_with_names_poll_the_documented_oids() -> None:
    """generic-snmp and snmp-traps are written with names; they resolve to the OIDs their comments cite."""
    registry = default_registry()
    generic = load_manifest(REPO / "addons" / "generic-snmp" / "addon.yaml", registry)
    specs = {s.name: s.spec for s in generic.sources}
    assert dict(specs["interfaces"].columns) == {
        "ifDescr": "1.3.6.1.2.1.2.2.1.2", "ifAdminStatus": "1.3.6.1.2.1.2.2.1.7",
        "ifOperStatus": "1.3.6.1.2.1.2.2.1.8", "ifName": "1.3.6.1.2.1.31.1.1.1.1"}
    assert dict(specs["interface-metrics"].columns) == {
        "ifName": "1.3.6.1.2.1.31.1.1.1.1", "ifInErrors": "1.3.6.1.2.1.2.2.1.14",
        "ifOutErrors": "1.3.6.1.2.1.2.2.1.20", "ifHCInOctets": "1.3.6.1.2.1.31.1.1.1.6",
        "ifHCOutOctets": "1.3.6.1.2.1.31.1.1.1.10", "ifHighSpeed": "1.3.6.1.2.1.31.1.1.1.15"}
    assert dict(specs["uptime"].scalars) == {"sysUpTime": "1.3.6.1.2.1.1.3.0"}
    traps = load_manifest(REPO / "addons" / "snmp-traps" / "addon.yaml", registry).sources[0].spec
    assert [r.oid for r in traps.rules] == ["1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.4", "1.3.6.1.6.3.1.1.5.1",
                                            "1.3.6.1.6.3.1.1.5.2", "1.3.6.1.6.3.1.1.5.5", ""]
    assert {v.name: v.oid for v in traps.rules[0].varbinds} == {
        "ifIndex": "1.3.6.1.2.1.2.2.1.1", "ifDescr": "1.3.6.1.2.1.2.2.1.2", "ifAdminStatus": "1.3.6.1.2.1.2.2.1.7",
        "ifOperStatus": "1.3.6.1.2.1.2.2.1.8", "ifName": "1.3.6.1.2.1.31.1.1.1.1",
        "ifAlias": "1.3.6.1.2.1.31.1.1.1.18"}


async def test_a_manifest_with_names_polls_like_the_numeric_one(snmpd: SnmpAgent, tmp_path: Path) -> None:
    registry = default_registry()
    numeric = load_manifest(_write(tmp_path, "numeric", NUMERIC), registry)
    named = load_manifest(_write(tmp_path, "named", NAMED), registry)
    snmpd.set_interface(2, "ge-0/0/2", "GigabitEthernet 2", oper=2)
    poller, _ = make_poller({"C": snmpd.community})
    target = Target("r1", "127.0.0.1", port=snmpd.port, addons=("numeric", "named"), credential="env:C")
    poller.configure({"numeric": numeric, "named": named}, [target])

    def view(events: list[Any]) -> list[tuple[Any, ...]]:
        return [(e.event, e.resource, e.component, e.severity.value if e.severity else None, e.summary,
                 dict(e.labels)) for e in events]

    try:
        by_numbers = view(await poller.run("r1/numeric/ports"))
        by_names = view(await poller.run("r1/named/ports"))
    finally:
        await poller.clients.close()
    assert by_names == by_numbers
    assert [(c, s) for _e, _r, c, s, _m, _l in by_names] == [("ge-0/0/1", "clear"), ("ge-0/0/2", "major")]
    # sysName.0 and sysLocation.0 came from the agent (scalars by name, with their instance)
    assert by_names[1][4].startswith("ge-0/0/2 (GigabitEthernet 2) on ") and snmpd.location in by_names[1][4]


def test_unknown_name_is_a_file_line_col_error() -> None:
    text = NAMED.replace("IF-MIB::ifOperStatus", "IF-MIB::ifOperStatuz").replace("sysLocation.0", "sysLocatio.0")
    with pytest.raises(ConfigErrors) as info:
        parse_manifest(text, "addons/named/addon.yaml", default_registry())
    assert [str(e) for e in info.value.errors] == [
        "addons/named/addon.yaml:7:47: unknown MIB object 'sysLocatio' (not in the default MIBs, see "
        "docs/addons.md; write MODULE::sysLocatio for another module)",
        "addons/named/addon.yaml:10:17: unknown MIB object 'ifOperStatuz' in IF-MIB",
    ]
    with pytest.raises(ConfigError) as one:
        parse_manifest(NAMED.replace("SNMPv2-MIB::", "SNMPv9-MIB::"), "a.yaml", default_registry())
    assert str(one.value).startswith("a.yaml:7:15: unknown MIB module 'SNMPv9-MIB'")


def test_addons_check_reports_an_unknown_name(tmp_path: Path) -> None:
    """The CLI a user runs, in its own process (how start-up loads them too: load_addons)."""
    path = _write(tmp_path, "named", NAMED.replace("IF-MIB::ifDescr", "IF-MIB::ifDescription"))
    r = run(["check", str(path.parent)], {})
    assert r.returncode == 1
    assert r.stderr.strip() == f"{path}:10:69: unknown MIB object 'ifDescription' in IF-MIB"
    ok = _write(tmp_path, "ok", NAMED.replace("name: named", "name: ok"))
    r = run(["check", str(ok.parent)], {})
    assert r.returncode == 0 and "1 addon manifest(s) OK" in r.stdout


# -- trap labels ---------------------------------------------------------------------------
TRAPS = """name: t
version: "1"
sources:
  - name: s
    kind: snmp_trap
    varbinds: {state: {oid: BGP4-MIB::bgpPeerState}}
    traps:
      - {oid: IF-MIB::linkDown, event: down, labels: {trap: "{{ trap_name }}"}}
      - {oid: "*", event: other, labels: {trap: "{{ trap_name }}", state: "{{ state }}"}}
"""


def test_trap_names_and_varbind_names_in_labels() -> None:
    from datetime import UTC, datetime

    registry = default_registry()
    spec = parse_manifest(TRAPS, "t.yaml", registry).sources[0].spec
    now = datetime.now(UTC)
    traps = [
        ReceivedTrap("192.0.2.1", 162, "v2c", "1.3.6.1.6.3.1.1.5.3", (("1.3.6.1.2.1.2.2.1.1.3", 3),), now),
        ReceivedTrap("192.0.2.1", 162, "v2c", "1.3.6.1.2.1.15.7.2",
                     (("1.3.6.1.2.1.15.3.1.2.10.0.0.1", 2), ("1.3.6.1.4.1.99999.1.0", b"x")), now),
    ]
    events, _ = traps_to_events(traps, TrapTable.build([spec]), names=registry.mibs.name)
    down, other = events
    assert down.labels == {"trap": "IF-MIB::linkDown"}
    assert other.labels == {"trap": "BGP4-MIB::bgpBackwardTransition", "state": "2",
                            "BGP4-MIB::bgpPeerState.10.0.0.1": "2", "1.3.6.1.4.1.99999.1.0": "x"}
    # without a resolver the same trap keeps its numbers
    events, _ = traps_to_events(traps[1:], TrapTable.build([spec]))
    assert events[0].labels["trap"] == "1.3.6.1.2.1.15.7.2" and "1.3.6.1.2.1.15.3.1.2.10.0.0.1" in events[0].labels


async def test_a_real_trap_shows_names_in_its_labels(
    tmp_path: Path, settings_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """snmptrap -> the receiver process -> the shipped catch-all: trap and varbinds by MIB name."""
    from tests.sources.test_traps_e2e import LINK_DOWN, Sender, alerts, eventually, link_varbinds, trap_settings
    from tests.support.server import start_live_server

    settings = trap_settings(tmp_path, settings_factory, monkeypatch)
    async with start_live_server(settings) as server:
        send = Sender(tmp_path, settings.trap_port)
        # BGP4-MIB::bgpBackwardTransition: no shipped addon maps it, the catch-all names it
        rc, out = await send.v2c("1.3.6.1.2.1.15.7.2", "1.3.6.1.2.1.15.3.1.2.192.0.2.9", "i", "1",
                                 "1.3.6.1.4.1.99999.1.0", "s", "vendor-thing")
        assert rc == 0, out
        (other,) = await eventually(lambda: alerts(server, event="snmp_trap"), 10, "the catch-all alert")
        assert other["labels"]["trap"] == "BGP4-MIB::bgpBackwardTransition"
        assert other["labels"]["BGP4-MIB::bgpPeerState.192.0.2.9"] == "1"
        assert other["labels"]["1.3.6.1.4.1.99999.1.0"] == "vendor-thing"  # no MIB: the number
        assert other["summary"].startswith("trap BGP4-MIB::bgpBackwardTransition from ")
        assert other["component"] == "1.3.6.1.2.1.15.7.2"  # the alert's identity stays the OID
        # the named linkDown rule of the shipped addon still matches the numeric trap
        rc, out = await send.v2c(LINK_DOWN, *link_varbinds(7, "ge-0/0/7", admin=1, oper=2))
        assert rc == 0, out
        (down,) = await eventually(lambda: alerts(server, event="link_down"), 10, "the linkDown alert")
        assert down["component"] == "ge-0/0/7" and down["severity"] == "major"


def test_start_up_refuses_an_unknown_name(tmp_path: Path) -> None:
    """`opsconductor serve` with a manifest naming an unknown object: one line, file:line:col, no start."""
    from tests.safety.test_config_refusal import serve

    (tmp_path / "rules").mkdir()
    path = _write(tmp_path, "named", NAMED.replace("IF-MIB::ifOperStatus", "IF-MIB::ifOperStatuz"))
    proc = serve(tmp_path, OPSCONDUCTOR_RULES_DIR=str(tmp_path / "rules"))
    assert proc.returncode == 2, proc.stderr
    assert f"{path}:10:17: unknown MIB object 'ifOperStatuz' in IF-MIB" in proc.stderr.splitlines()
