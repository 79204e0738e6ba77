"""The in-process TrapReceiver on real loopback sockets (IPv4 and IPv6), fed raw datagrams."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from pysnmp.proto.api import v1, v2c

from opsconductor.sources.snmp_trap import ReceivedTrap
from opsconductor.sources.snmp_trap_receiver import TrapAuth, TrapReceiver
from tests.sources.test_traps_decode import v2c_message

LINK_DOWN = (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)


def v2c_trap(community: bytes, if_index: int) -> bytes:
    return v2c_message(community, [
        ((1, 3, 6, 1, 2, 1, 1, 3, 0), v2c.TimeTicks(777)),
        ((1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0), v2c.ObjectIdentifier(LINK_DOWN)),
        ((1, 3, 6, 1, 2, 1, 2, 2, 1, 1, if_index), v2c.Integer(if_index)),
    ])


def v1_link_down(community: bytes) -> bytes:
    from pyasn1.codec.ber import encoder

    pdu = v1.TrapPDU()
    v1.apiTrapPDU.set_defaults(pdu)
    v1.apiTrapPDU.set_enterprise(pdu, (1, 3, 6, 1, 4, 1, 99999))
    v1.apiTrapPDU.set_agent_address(pdu, "127.0.0.9")
    v1.apiTrapPDU.set_generic_trap(pdu, 2)  # linkDown
    v1.apiTrapPDU.set_varbinds(pdu, [((1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 4), v1.Integer(4))])
    msg = v1.Message()
    v1.apiMessage.set_defaults(msg)
    v1.apiMessage.set_community(msg, community)
    v1.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


async def receive(host: str, datagrams: list[bytes], expect: int) -> tuple[list[ReceivedTrap], Any]:
    got: list[ReceivedTrap] = []
    drops: list[str] = []

    async def sink(batch: list[ReceivedTrap]) -> None:
        got.extend(batch)

    receiver = TrapReceiver(host=host, port=0, auth=TrapAuth((b"good",)), sink=sink, batch_window=0.01,
                            on_drop=drops.append)
    await receiver.start()
    assert receiver.bound is not None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        for d in datagrams:
            s.sendto(d, receiver.bound)
    for _ in range(100):
        if len(got) >= expect and (len(drops) + len(got)) >= expect:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)
    await receiver.stop()
    return got, (receiver.stats, drops)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_v2c_fast_path_and_drops(host: str) -> None:
    got, (stats, drops) = await receive(host, [v2c_trap(b"good", 1), v2c_trap(b"evil", 2), b"\x30\x03garbage",
                                               v2c_trap(b"good", 3)], expect=2)
    assert [(t.version, t.trap_oid, t.uptime, t.varbinds) for t in got] == [
        ("v2c", "1.3.6.1.6.3.1.1.5.3", 777, (("1.3.6.1.2.1.2.2.1.1.1", 1),)),
        ("v2c", "1.3.6.1.6.3.1.1.5.3", 777, (("1.3.6.1.2.1.2.2.1.1.3", 3),)),
    ]
    assert got[0].address == host and stats.fast == 2
    assert drops == ["bad_community"]  # the garbage went to pysnmp, which drops it silently


async def test_v1_trap_goes_through_pysnmp_and_loses_its_community() -> None:
    got, _ = await receive("127.0.0.1", [v1_link_down(b"good"), v1_link_down(b"evil")], expect=1)
    (trap,) = got
    assert (trap.version, trap.trap_oid) == ("v1", "1.3.6.1.6.3.1.1.5.3")  # RFC 3584: generic 2 = linkDown
    oids = dict(trap.varbinds)
    assert oids["1.3.6.1.2.1.2.2.1.1.4"] == 4
    assert oids["1.3.6.1.6.3.18.1.3.0"] == "127.0.0.9"  # snmpTrapAddress.0: the v1 agent-addr
    assert "1.3.6.1.6.3.18.1.4.0" not in oids  # snmpTrapCommunity.0 is a secret: never kept
    assert b"good" not in repr(trap).encode()
