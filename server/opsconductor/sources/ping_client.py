"""Reachability without root.

``tcp`` (the default): a TCP connect to a port; an answer of any kind (accepted or
refused with RST) proves the host is up, only silence (timeout, no route) means down.
Needs no privilege at all.

``icmp``: an echo request on an unprivileged ICMP datagram socket
(``socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)``), which Linux allows only for groups in
``sysctl net.ipv4.ping_group_range``; if it is not allowed the poll fails with a clear error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time

from opsconductor.errors import SourceError, Unreachable


class Pinger:
    def __init__(self, *, concurrency: int = 200):
        self._limit = asyncio.Semaphore(concurrency)
        self._suspect_limit = asyncio.Semaphore(max(2, concurrency // 4))

    async def tcp(self, address: str, port: int, timeout: float, *, suspect: bool = False,  # noqa: ASYNC109
                  refused_is_down: bool = False) -> float:
        """Round-trip time in ms of a TCP handshake (or its refusal, unless ``refused_is_down``:
        checking that a service listens, not only that the host answers)."""
        async with self._suspect_limit if suspect else self._limit:
            start = time.perf_counter()
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
            except ConnectionRefusedError:
                if refused_is_down:
                    raise Unreachable(f"{address}:{port} refuses TCP connections (nothing listens)") from None
                return (time.perf_counter() - start) * 1000
            except (TimeoutError, OSError) as exc:
                raise Unreachable(f"{address}:{port} does not answer TCP: {type(exc).__name__}") from None
            rtt = (time.perf_counter() - start) * 1000
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return rtt

    async def icmp(self, address: str, timeout: float, *, suspect: bool = False) -> float:  # noqa: ASYNC109
        """Round-trip time in ms of an ICMP echo on an unprivileged datagram socket."""
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
        except PermissionError:
            raise SourceError("unprivileged ICMP is not allowed: widen sysctl net.ipv4.ping_group_range "
                              "or use method: tcp") from None
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        seq = int.from_bytes(os.urandom(2), "big")
        header = struct.pack("!BBHHH", 8, 0, 0, 0, seq)  # the kernel fills id and checksum
        async with self._suspect_limit if suspect else self._limit:
            try:
                start = time.perf_counter()
                await loop.sock_sendto(sock, header + b"opsconductor", (address, 0))
                while True:
                    data = await asyncio.wait_for(loop.sock_recv(sock, 1024), timeout)
                    if len(data) >= 8 and data[0] == 0 and struct.unpack("!H", data[6:8])[0] == seq:
                        return (time.perf_counter() - start) * 1000
            except (TimeoutError, OSError) as exc:
                raise Unreachable(f"{address} does not answer ICMP echo: {type(exc).__name__}") from None
            finally:
                sock.close()
