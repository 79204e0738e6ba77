"""Run the rules engine in a supervised worker process.

The engine's C code can segfault and never releases the GIL; in its own process a
crash costs a restart, not the API. The parent sends batches of messages over a
pipe and gets slot lists back. If the worker dies mid-batch, :meth:`classify`
restarts it and raises :class:`~opsconductor.errors.Unavailable`: the pipeline
rolls the batch back, the events stay unprocessed in the event log and are
retried, so nothing is lost or counted twice. A reload starts a new worker with
the new rules and stops the old one (rulesets are never replaced in place).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from opsconductor.correlate.compiler import EngineSpec
from opsconductor.errors import Unavailable

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
CLASSIFY_TIMEOUT_S = 60.0


def _serve(conn: Connection) -> None:
    """Worker main: wait for the rules, build the engine, answer classify requests until the pipe closes."""
    from opsconductor.correlate.engine import EngineFailure, MatchEngine

    try:
        spec = conn.recv()
    except (EOFError, OSError):
        return
    if spec is None:
        return
    try:
        engine = MatchEngine(spec)
    except EngineFailure as exc:
        conn.send(("error", str(exc)))
        return
    conn.send(("ready", None))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        conn.send(("ok", engine.classify(msg)))


class WorkerProcess:
    """A started worker process that has not been given rules yet (a warm spare for reloads)."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")  # never fork a process that runs an event loop and threads
        self.conn, child = ctx.Pipe()
        self.proc: Any = ctx.Process(target=_serve, args=(child,), daemon=True, name="opsconductor-rules-engine")
        self.proc.start()
        child.close()

    def discard(self) -> None:
        """Stop it at once: it holds no rules and no state (and may still be starting, when it would
        read a polite stop only after its interpreter came up, a second or more)."""
        self.conn.close()
        self.proc.terminate()
        self.proc.join(2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(2)


class EngineWorker:
    """A classify-only engine in a child process; thread-safe (one request at a time)."""

    def __init__(self, spec: EngineSpec, process: WorkerProcess | None = None):
        self._spec = spec
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Connection | None = None
        self.restarts = 0
        self._start(process)

    def _start(self, process: WorkerProcess | None = None) -> None:
        wp = process or WorkerProcess()
        parent, proc = wp.conn, wp.proc
        try:
            parent.send(self._spec)
        except OSError:
            wp.discard()
            raise Unavailable("rules engine worker died before it got its rules") from None
        if not parent.poll(START_TIMEOUT_S):
            proc.kill()
            raise Unavailable("rules engine worker did not start")
        try:
            status, detail = parent.recv()
        except (EOFError, OSError):
            raise Unavailable(f"rules engine worker died while starting (exit {proc.exitcode})") from None
        if status != "ready":
            proc.join(5)
            raise Unavailable(f"rules engine rejected the rules: {detail}")
        self._proc, self._conn = proc, parent

    @property
    def pid(self) -> int | None:
        return int(self._proc.pid) if self._proc is not None else None

    def classify(self, messages: Sequence[dict[str, Any]]) -> list[list[int] | None]:
        with self._lock:
            if self._conn is None:
                self._start()
            assert self._conn is not None
            try:
                self._conn.send(list(messages))
                if not self._conn.poll(CLASSIFY_TIMEOUT_S):
                    # the engine can hang with the GIL held; only killing the process ends that
                    raise TimeoutError(f"no answer within {CLASSIFY_TIMEOUT_S:g}s")
                status, result = self._conn.recv()
            except (EOFError, OSError, BrokenPipeError, TimeoutError) as exc:
                code = self._proc.exitcode if self._proc is not None else None
                log.error("rules engine worker died (exit %s): %s; restarting it", code, exc)
                self._discard()
                self.restarts += 1
                self._start()
                raise Unavailable("rules engine worker died; the batch will be retried") from None
            if status != "ok":
                raise Unavailable(f"rules engine failed: {result}")
            return list(result)

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._proc is not None:
            self._proc.join(2)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(2)
        self._proc, self._conn = None, None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(OSError):
                    self._conn.send(None)
            self._discard()


class InProcessEngine:
    """The same engine without a worker process (rules test, explain, benchmarks of the engine alone)."""

    def __init__(self, spec: EngineSpec):
        from opsconductor.correlate.engine import MatchEngine

        self._engine = MatchEngine(spec)

    def classify(self, messages: Sequence[dict[str, Any]]) -> list[list[int] | None]:
        return self._engine.classify(messages)

    def close(self) -> None:
        return None
