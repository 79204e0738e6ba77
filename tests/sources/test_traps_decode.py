"""The fast v2c trap decoder against pysnmp's own encoder, and trap -> event translation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import encoder
from pysnmp.proto.api import v1, v2c

from opsconductor.model.event import Severity
from opsconductor.sources.kinds import default_registry
from opsconductor.sources.manifest import load_manifest
from opsconductor.sources.snmp_trap import ReceivedTrap, TrapSpec, TrapTable, traps_to_events, value_text
from opsconductor.sources.snmp_trap_ber import BerError, decode_v2c_trap
from opsconductor.sources.snmp_trap_receiver import split_varbinds

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"

oids = st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=12).map(lambda t: (1, 3, *t))
values = st.one_of(
    st.integers(-(2**31), 2**31 - 1).map(lambda i: (v2c.Integer(i), i)),
    st.binary(max_size=64).map(lambda b: (v2c.OctetString(b), b)),
    oids.map(lambda o: (v2c.ObjectIdentifier(o), ".".join(map(str, o)))),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda q: (v2c.IpAddress(bytes(q)), ".".join(map(str, q)))),
    st.integers(0, 2**32 - 1).map(lambda i: (v2c.Counter32(i), i)),
    st.integers(0, 2**32 - 1).map(lambda i: (v2c.Gauge32(i), i)),
    st.integers(0, 2**32 - 1).map(lambda i: (v2c.TimeTicks(i), i)),
    st.integers(0, 2**64 - 1).map(lambda i: (v2c.Counter64(i), i)),
    st.just((v2c.Null(""), None)),
)


def v2c_message(community: bytes, varbinds: list[tuple[tuple[int, ...], Any]], pdu: Any = None,
                version: Any = v2c) -> bytes:
    api = version.apiPDU if pdu is not None else version.apiTrapPDU
    pdu = pdu if pdu is not None else version.TrapPDU()
    api.set_defaults(pdu)
    api.set_varbinds(pdu, varbinds)
    msg = version.Message()
    version.apiMessage.set_defaults(msg)
    version.apiMessage.set_community(msg, community)
    version.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


@pytest.mark.fuzz
@settings(max_examples=150, deadline=None)
@given(community=st.binary(min_size=1, max_size=32), varbinds=st.lists(st.tuples(oids, values), max_size=8))
def test_decoder_agrees_with_pysnmp_encoder(community: bytes, varbinds: list[tuple[tuple[int, ...], Any]]) -> None:
    data = v2c_message(community, [(oid, v[0]) for oid, v in varbinds])
    trap = decode_v2c_trap(data)
    assert trap is not None and trap.community == community
    assert trap.varbinds == [(".".join(map(str, oid)), v[1]) for oid, v in varbinds]


def test_other_versions_and_pdus_go_to_pysnmp() -> None:
    assert decode_v2c_trap(v2c_message(b"c", [], pdu=v2c.InformRequestPDU())) is None  # must be acknowledged
    assert decode_v2c_trap(v2c_message(b"c", [], version=v1)) is None  # v1 Trap-PDU: RFC 3584 conversion


@pytest.mark.parametrize("data", [
    b"", b"\x30", b"\x04\x00", b"\x30\x80\x00\x00", b"\x30\x03\x02\x01",
    b"\x30\x0b\x02\x01\x01\x04\x01c\xa7\x03\x02\x01",  # PDU runs past the message
    b"\x30\x85\x01\x01\x01\x01\x01",  # 5-byte length
])
def test_malformed_input_raises(data: bytes) -> None:
    with pytest.raises((BerError, IndexError)):
        decode_v2c_trap(data)


def test_truncated_real_trap_raises() -> None:
    data = v2c_message(b"public", [((1, 3, 6, 1, 2, 1, 1, 3, 0), v2c.TimeTicks(5))])
    for cut in range(1, len(data)):
        with pytest.raises((BerError, IndexError)):
            decode_v2c_trap(data[:cut])


def test_split_varbinds_drops_the_community_varbind() -> None:
    trap_oid, uptime, rest = split_varbinds([
        ("1.3.6.1.2.1.1.3.0", 42), (TRAP_OID, "1.3.6.1.6.3.1.1.5.1"),
        ("1.3.6.1.6.3.18.1.4.0", b"secret-community"), ("1.3.6.1.6.3.18.1.3.0", "10.0.0.1"),
    ])
    assert (trap_oid, uptime, rest) == ("1.3.6.1.6.3.1.1.5.1", 42, (("1.3.6.1.6.3.18.1.3.0", "10.0.0.1"),))


def test_value_text() -> None:
    assert value_text(b"ge-0/0/1") == "ge-0/0/1"
    assert value_text(b"\x00\x1b\x21\xaa\xbb\xcc") == "00:1b:21:aa:bb:cc"  # a MAC address
    assert value_text(b"\xff\xfe") == "ff:fe" and value_text(7) == 7


@pytest.fixture(scope="module")
def table() -> TrapTable:
    m = load_manifest(REPO / "addons" / "snmp-traps" / "addon.yaml", default_registry())
    return TrapTable.build([s.spec for s in m.sources if isinstance(s.spec, TrapSpec)])


def trap(oid: str, *varbinds: tuple[str, Any], address: str = "192.0.2.7") -> ReceivedTrap:
    return ReceivedTrap(address, 50000, "v2c", oid, tuple(varbinds), NOW, 1234)


def test_link_down_without_if_name_uses_descr_then_index(table: TrapTable) -> None:
    (by_descr, by_index), stats = traps_to_events([
        trap("1.3.6.1.6.3.1.1.5.3", ("1.3.6.1.2.1.2.2.1.1.4", 4), ("1.3.6.1.2.1.2.2.1.2.4", b"Gi0/4"),
             ("1.3.6.1.2.1.2.2.1.7.4", 1), ("1.3.6.1.2.1.2.2.1.8.4", 2)),
        trap("1.3.6.1.6.3.1.1.5.3", ("1.3.6.1.2.1.2.2.1.7.12", 2), ("1.3.6.1.2.1.2.2.1.8.12", 2)),
    ], table)
    assert (by_descr.component, by_descr.severity, by_descr.resource) == ("Gi0/4", Severity.major, "192.0.2.7")
    assert by_descr.labels["ifDescr"] == "Gi0/4" and by_descr.occurred_at == NOW
    # no ifIndex varbind: the index comes from the instance OID; admin down -> only info
    assert (by_index.component, by_index.severity) == ("12", Severity.info)
    assert by_index.summary == "ifIndex 12 is down (admin down, oper down)"
    assert by_index.labels["ifIndex"] == "12"
    assert stats.unmapped == 0 and stats.invalid == 0


def test_link_up_is_a_clear_and_names_come_from_the_inventory(table: TrapTable) -> None:
    (up,), _ = traps_to_events([trap("1.3.6.1.6.3.1.1.5.4", ("1.3.6.1.2.1.31.1.1.1.1.3", b"xe-0/0/3"))], table,
                               {"192.0.2.7": {"name": "rtr7.ams", "labels": {}}}.get)
    assert (up.event, up.resource, up.component, up.severity) == ("link_up", "rtr7.ams", "xe-0/0/3", Severity.clear)
    assert up.raw == {"agent": "192.0.2.7", "version": "v2c", "trap_oid": "1.3.6.1.6.3.1.1.5.4", "uptime": 1234,
                      "varbinds": [["1.3.6.1.2.1.31.1.1.1.1.3", "xe-0/0/3"]]}


def test_exact_rules_win_over_the_catch_all(table: TrapTable) -> None:
    events, _ = traps_to_events([trap("1.3.6.1.6.3.1.1.5.1"), trap("1.3.6.1.6.3.1.1.5.2"),
                                 trap("1.3.6.1.6.3.1.1.5.5"), trap("1.3.6.1.4.1.9.9.41.2.0.1")], table)
    assert [(e.event, e.labels.get("restart"), e.severity) for e in events] == [
        ("device_rebooted", "cold", Severity.warning), ("device_rebooted", "warm", Severity.warning),
        ("snmp_auth_failure", None, Severity.warning), ("snmp_trap", None, Severity.info)]
    assert events[3].component == "1.3.6.1.4.1.9.9.41.2.0.1"


def test_unmapped_and_invalid_traps_are_counted_not_raised() -> None:
    from opsconductor.sources.manifest import parse_manifest

    m = parse_manifest("name: x\nversion: '1'\nsources:\n  - name: t\n    kind: snmp_trap\n    traps:\n"
                       "      - {oid: 1.3.6.1.4.1.1.*, event: '{{ vb.missing }}'}\n"
                       "      - {oid: 1.3.6.1.4.1.2.0.1, event: vendor_alarm}\n", "addons/x/addon.yaml",
                       default_registry())
    table = TrapTable.build([m.sources[0].spec])
    events, stats = traps_to_events([trap("1.3.6.1.4.1.1.0.5"), trap("1.3.6.1.4.1.2.0.1"), trap("1.3.9")], table)
    assert [e.event for e in events] == ["vendor_alarm"]
    assert (stats.unmapped, stats.invalid) == (1, 1)
    assert stats.errors == ["x/t trap 1.3.6.1.4.1.1.0.5 from 192.0.2.7: event: rendered empty"]


def test_the_oid_cache_gives_the_same_answers() -> None:
    cache: dict[bytes, str] = {}
    data = v2c_message(b"c", [((1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0), v2c.ObjectIdentifier((1, 3, 6, 1, 6, 3, 1, 1, 5, 3))),
                              ((1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 7), v2c.Integer(7))])
    first, second = decode_v2c_trap(data, cache), decode_v2c_trap(data, cache)
    assert first == second == decode_v2c_trap(data)
    assert sorted(cache.values()) == ["1.3.6.1.2.1.2.2.1.1.7", "1.3.6.1.6.3.1.1.4.1.0", "1.3.6.1.6.3.1.1.5.3"]
