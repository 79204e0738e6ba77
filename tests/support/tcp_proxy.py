"""A loopback TCP proxy the test can cut and restore: a real network fault between app and database."""

from __future__ import annotations

import asyncio
import contextlib

from tests.support.server import free_port


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._pg_error: tuple[str, str] | None = None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                await self._flowing.wait()  # frozen: bytes are held, like a server that stopped answering
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()

    def freeze(self) -> None:
        """Stop forwarding in both directions, keeping every connection open (a frozen database)."""
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def answer_pg_error(self, sqlstate: str | None, message: str = "") -> None:
        """New connections get a PostgreSQL FATAL ErrorResponse (protocol v3), e.g. 57P03
        "the database system is starting up"; None forwards again."""
        self._pg_error = (sqlstate, message) if sqlstate else None

    async def _refuse_pg(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        assert self._pg_error is not None
        with contextlib.suppress(Exception):
            while True:  # SSLRequest (answered 'N': no TLS), then the startup message
                n = int.from_bytes(await client_r.readexactly(4), "big")
                body = await client_r.readexactly(n - 4)
                if body[:4] == (80877103).to_bytes(4, "big"):
                    client_w.write(b"N")
                    await client_w.drain()
                    continue
                break
            code, text = self._pg_error
            fields = b"".join(k + v.encode() + b"\0" for k, v in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", code),
                                                                  (b"M", text)))
            payload = fields + b"\0"
            client_w.write(b"E" + (len(payload) + 4).to_bytes(4, "big") + payload)
            await client_w.drain()
        client_w.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self._pg_error is not None:
            await self._refuse_pg(client_r, client_w)
            return
        try:
            up_r, up_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        self._writers.update((client_w, up_w))
        await asyncio.gather(self._pipe(client_r, up_w), self._pipe(up_r, client_w))
        self._writers.discard(client_w)
        self._writers.discard(up_w)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    def drop_connections(self) -> None:
        """Abort every open connection but keep listening."""
        for w in list(self._writers):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._writers.clear()

    async def cut(self) -> None:
        """Stop listening and drop every open connection, like a database host going away."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        await self.start()
