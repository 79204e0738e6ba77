"""The protocol clients against real peers: SSH session limit and reuse, ICMP ping."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from opsconductor.errors import SourceError, Unreachable
from opsconductor.sources.credentials import Secret
from opsconductor.sources.ping_client import Pinger
from opsconductor.sources.ssh_client import SshClient
from tests.sources.peers import SshServer, free_tcp_port


@pytest.fixture
def sshd(tmp_path: Path):  # type: ignore[no-untyped-def]
    server = SshServer(tmp_path / "sshd").start()
    yield server
    server.stop()


async def _timed(client: SshClient, server: SshServer, n: int) -> float:
    secret = Secret("env:X", server.credential_json())
    start = time.perf_counter()
    outs = await asyncio.gather(*(client.run("127.0.0.1", server.port, secret, "slow show", timeout=10)
                                  for _ in range(n)))
    assert outs == ["done\n"] * n
    return time.perf_counter() - start


async def test_ssh_per_device_session_limit_and_one_connection(sshd: SshServer) -> None:
    # The fake device CLI answers `slow show` after 0.4 s (a slow network OS).
    (sshd.cli_dir / "slow_show.txt").write_text("done\n")
    cli = sshd.dir / "device_cli.sh"
    cli.write_text(cli.read_text().replace("#!/bin/sh\n", "#!/bin/sh\nsleep 0.4\n"))
    one = SshClient(sessions_per_device=1)
    three = SshClient(sessions_per_device=3)
    try:
        await _timed(one, sshd, 1)  # connect once
        await _timed(three, sshd, 1)
        serial = await _timed(one, sshd, 3)
        parallel = await _timed(three, sshd, 3)
        assert serial >= 1.2  # three sessions one after the other on the device
        assert parallel < serial * 0.7
        assert one.open_connections == 1 and three.open_connections == 1
    finally:
        await one.close()
        await three.close()


async def test_ssh_errors_are_clear(sshd: SshServer) -> None:
    client = SshClient()
    try:
        with pytest.raises(SourceError, match="exited 1: % Invalid command: bogus"):
            await client.run("127.0.0.1", sshd.port, Secret("env:X", sshd.credential_json()), "bogus", timeout=5)
        with pytest.raises(SourceError, match="needs a JSON object with 'username'"):
            await client.run("127.0.0.1", sshd.port, Secret("env:X", "just-a-password"), "x", timeout=5)
        with pytest.raises(Unreachable):
            await client.run("127.0.0.1", free_tcp_port(), Secret("env:X", sshd.credential_json()), "x", timeout=5)
    finally:
        await client.close()


def _icmp_allowed() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP).close()
        return True
    except PermissionError:
        return False


async def test_icmp_echo_on_loopback_or_a_clear_error() -> None:
    pinger = Pinger()
    if _icmp_allowed():
        rtt = await pinger.icmp("127.0.0.1", 1.0)
        assert 0 <= rtt < 1000
    else:  # this host's net.ipv4.ping_group_range excludes us: the poll says so
        with pytest.raises(SourceError, match="ping_group_range"):
            await pinger.icmp("127.0.0.1", 1.0)


async def test_tcp_ping_refused_is_up_unless_refused_is_down() -> None:
    """A closed port's RST proves the host is up; with refused_is_down the service must listen."""
    closed = free_tcp_port()
    pinger = Pinger()
    assert await pinger.tcp("127.0.0.1", closed, 1.0) >= 0
    with pytest.raises(Unreachable, match="refuses TCP connections"):
        await pinger.tcp("127.0.0.1", closed, 1.0, refused_is_down=True)
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        assert await pinger.tcp("127.0.0.1", listening.getsockname()[1], 1.0, refused_is_down=True) >= 0
