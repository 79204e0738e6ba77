"""The trap receiver in its own process: receive -> decode -> translate -> event log.

The server's event loop also runs the batch processor (correlate -> store -> notify), which
can hold the loop and the GIL for a second or more under load: a UDP socket that is not
read meanwhile overflows and the kernel drops traps, and traps that wait for the loop are
stored late. So the whole intake path of traps runs in a child process: it binds the
socket, runs :class:`TrapReceiver` (fast v2c path and pysnmp), translates each batch with
the addons' rules and appends the events to the event log itself — durably, in one
transaction per batch — exactly like a second server process would. The server's
processor picks them up from the log (it polls it, as it does for other processes).

The server keeps the child's configuration current over a pipe (which manifests to load,
the inventory's targets by address) and turns its reports into metrics and log lines.

    server -> child: ("config", [manifest paths], {address: target}) | None (stop)
    child -> server: ("started", (host, port)) | ("error", errno, text)
                   | ("stored", {source: n}, {outcome: n}, [error lines]) | ("stopped",)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from opsconductor.errors import ConfigError
from opsconductor.sources.snmp_trap import ReceivedTrap, TrapSpec, TrapTable, traps_to_events
from opsconductor.sources.snmp_trap_receiver import TrapAuth, TrapReceiver

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
Report = tuple[dict[str, int], dict[str, int], list[str]]  # events by source, outcome counts, error lines


class _ChildState:
    """The child's current translation config; rebuilt when the server sends a new one."""

    def __init__(self) -> None:
        from opsconductor.sources.kinds import default_registry

        self.specs: dict[str, list[TrapSpec]] = {}  # manifest path -> its trap sources
        self.table = TrapTable()
        self.targets: dict[str, dict[str, Any]] = {}
        # One registry (and MIB resolver) for the child's life: MIBs load once; trap labels
        # name OIDs with what the manifests loaded.
        self.registry = default_registry()
        self.registry.mibs.preload()

    def names(self, oid: str) -> str | None:
        return self.registry.mibs.name(oid)

    def configure(self, paths: Sequence[str], targets: Mapping[str, dict[str, Any]]) -> None:
        from opsconductor.sources.manifest import load_manifest

        registry = self.registry
        specs: dict[str, list[TrapSpec]] = {}
        for path in paths:
            try:
                m = load_manifest(Path(path), registry)
                specs[path] = [s.spec for s in m.sources if isinstance(s.spec, TrapSpec)]
            except ConfigError as exc:  # changed since the server loaded it: keep what we had
                log.error("trap rules of %s not reloaded: %s", path, exc)
                specs[path] = self.specs.get(path, [])
        self.specs = specs
        self.table = TrapTable.build([s for p in sorted(specs, key=lambda p: Path(p).parent.name)
                                      for s in specs[p]])
        self.targets = dict(targets)


def _writer(conn: Connection, out: queue.SimpleQueue[Any]) -> None:
    """Blocking pipe writes happen here, never on the receiving loop."""
    while True:
        msg = out.get()
        if msg is None:
            return
        try:
            conn.send(msg)
        except (OSError, ValueError):
            return


async def _child(conn: Connection, host: str, port: int, auth: TrapAuth, batch_window: float,
                 database_url: str) -> None:
    from opsconductor.normalize.validate import stamp_times
    from opsconductor.store.db import Database
    from opsconductor.store.event_log import accept_in

    out: queue.SimpleQueue[Any] = queue.SimpleQueue()
    writer = threading.Thread(target=_writer, args=(conn, out), name="trap-pipe-writer", daemon=True)
    writer.start()
    state = _ChildState()
    db = Database(database_url)
    drops: dict[str, int] = {}
    loop = asyncio.get_running_loop()

    def report_drops() -> None:
        if drops:
            out.put(("stored", {}, dict(drops), []))
            drops.clear()

    def on_drop(reason: str) -> None:
        if not drops:  # report soon even when no trap follows to carry the counts
            loop.call_later(batch_window, report_drops)
        drops[reason] = drops.get(reason, 0) + 1

    async def sink(batch: list[ReceivedTrap]) -> None:
        events, stats = traps_to_events(batch, state.table, state.targets.get, state.names)
        if events:
            now = datetime.now(UTC)
            events = stamp_times(events, now, 86_400.0)  # a device clock in year 9999 is not the event's time
            async with db.write() as c:  # raises -> the receiver keeps the batch and retries
                await accept_in(c, events, now)  # the one accept path
        by_source: dict[str, int] = {}
        for e in events:
            by_source[e.source or ""] = by_source.get(e.source or "", 0) + 1
        counts = {"accepted": len(events), "unmapped": stats.unmapped, "invalid": stats.invalid, **drops}
        drops.clear()
        out.put(("stored", by_source, counts, stats.errors))

    receiver = TrapReceiver(host=host, port=port, auth=auth, sink=sink, batch_window=batch_window,
                            on_drop=on_drop)
    try:
        await receiver.start()
    except OSError as exc:
        out.put(("error", exc.errno, exc.strerror or str(exc)))
        out.put(None)
        writer.join(5)
        await db.dispose()
        return
    out.put(("started", receiver.bound))
    stop = asyncio.Event()

    def readable() -> None:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            msg = None  # the server went away: stop
        if msg is None:
            stop.set()
        elif msg[0] == "config":
            state.configure(msg[1], msg[2])

    loop.add_reader(conn.fileno(), readable)
    await stop.wait()
    loop.remove_reader(conn.fileno())
    await receiver.stop()
    report_drops()
    out.put(("stopped",))
    out.put(None)
    writer.join(5)
    await db.dispose()


def child_main(conn: Connection, host: str, port: int, auth: TrapAuth, batch_window: float,
               database_url: str) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s trap-receiver %(name)s: %(message)s")
    asyncio.run(_child(conn, host, port, auth, batch_window, database_url))


class ReceiverProcess:
    """Starts the child, feeds it configuration and turns its reports into ``on_report`` calls."""

    def __init__(self, *, host: str, port: int, auth: TrapAuth, batch_window: float, database_url: str,
                 on_report: Callable[[dict[str, int], dict[str, int], list[str]], None],
                 on_exit: Callable[[], None] = lambda: None):
        self._args = (host, port, auth, batch_window, database_url)
        self._on_report = on_report
        self._on_exit = on_exit
        self._proc: Any = None
        self._conn: Connection | None = None
        self._reader: threading.Thread | None = None
        self._stopped = asyncio.Event()
        self._stopping = False
        self._config: Any = None
        self.bound: tuple[str, int] | None = None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive() and not self._stopped.is_set()

    async def start(self) -> tuple[str, int]:
        """Spawn and wait until the socket is bound; OSError if binding failed."""
        ctx = mp.get_context("spawn")  # never fork a process that runs an event loop and threads
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=child_main, args=(child, *self._args), daemon=True,
                           name="opsconductor-trap-receiver")
        proc.start()
        child.close()
        loop = asyncio.get_running_loop()
        ready = await loop.run_in_executor(None, parent.poll, START_TIMEOUT_S)
        first: Any = None
        if ready:
            with contextlib.suppress(EOFError, OSError):
                first = parent.recv()
        if not first or first[0] != "started":
            parent.close()
            await loop.run_in_executor(None, proc.join, 5)
            if proc.is_alive():
                proc.kill()
            if first and first[0] == "error":
                raise OSError(first[1], first[2])
            raise OSError(0, f"trap receiver process did not start (exit {proc.exitcode})")
        self._proc, self._conn, self.bound = proc, parent, tuple(first[1])
        self._reader = threading.Thread(target=self._read, args=(loop,), name="trap-pipe-reader", daemon=True)
        self._reader.start()
        assert self.bound is not None
        return self.bound

    def configure(self, manifest_paths: Sequence[str], targets: Mapping[str, dict[str, Any]]) -> None:
        """Send the child what to translate with (only when it changed)."""
        config = (sorted(manifest_paths), dict(targets))
        if config == self._config or self._conn is None:
            return
        with contextlib.suppress(OSError):
            self._conn.send(("config", *config))
            self._config = config

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        """Reader thread: blocking reads of whole messages (the server's loop may make fds
        non-blocking, which a half-received pickle does not survive), posted to the loop."""
        assert self._conn is not None
        while True:
            try:
                msg = self._conn.recv()
            except (EOFError, OSError):
                with contextlib.suppress(RuntimeError):  # the loop may be gone at shutdown
                    loop.call_soon_threadsafe(self._eof)
                return
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._message, msg)
            if msg[0] == "stopped":
                return

    def _message(self, msg: Any) -> None:
        if msg[0] == "stored":
            self._on_report(msg[1], msg[2], msg[3])
        elif msg[0] == "stopped":
            self._stopped.set()

    def _eof(self) -> None:
        if not self._stopping and not self._stopped.is_set():
            code = self._proc.exitcode if self._proc is not None else None
            log.error("the SNMP trap receiver process exited unexpectedly (exit %s)", code)
            self._stopped.set()
            self._on_exit()
        self._stopped.set()

    async def stop(self) -> None:
        """Ask the child to stop (it stores what it still has), then reap it."""
        self._stopping = True
        loop = asyncio.get_running_loop()
        if self._conn is not None and not self._stopped.is_set():
            with contextlib.suppress(OSError):
                self._conn.send(None)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), 15)
        if self._reader is not None:
            await loop.run_in_executor(None, self._reader.join, 5)
            self._reader = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            await loop.run_in_executor(None, self._proc.join, 5)
            if self._proc.is_alive():
                self._proc.kill()
            self._proc = None
