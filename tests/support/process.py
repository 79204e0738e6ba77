"""Run `opsconductor serve` as a real child process (for kill -9 and CLI tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.server import free_port


class ServerProcess:
    def __init__(self, data_dir: Path, *, env: dict[str, str] | None = None, port: int | None = None,
                 args: list[str] | None = None):
        self.data_dir = data_dir
        self.args = args or ["serve"]
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "OPSCONDUCTOR_DATA_DIR": str(data_dir),
            "OPSCONDUCTOR_PORT": str(self.port),
            "OPSCONDUCTOR_RULES_DIR": str(data_dir / "no-rules"),
            "OPSCONDUCTOR_ADDONS_DIR": str(data_dir / "no-addons"),
            **(env or {}),
        }
        self.proc: subprocess.Popen[str] | None = None
        self.log = data_dir / "server.log"

    def start(self, timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log.open("a")
        self.proc = subprocess.Popen([sys.executable, "-m", "opsconductor", *self.args], env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not ready in {timeout}s:\n{self.log.read_text()}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def admin_key(self) -> str:
        return (self.data_dir / "admin.key").read_text().strip()
