"""The peer in the ingest comparison: Debian's prometheus-alertmanager on loopback.

Started with clustering off (``--cluster.listen-address=``) and one webhook route to a local
sink, fed the same workload through its own ingest API (``POST /api/v2/alerts``). Alertmanager
keeps alerts in memory, so this is the in-memory reference the issue measures us against.

    .venv/bin/python bench/peer_alertmanager.py     # the peer's figure alone
"""

from __future__ import annotations

import asyncio
import http.server
import os
import shutil
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec

BINARY = "/usr/bin/prometheus-alertmanager"


class _Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


class Alertmanager:
    """A running Alertmanager with a webhook receiver that answers 200."""

    def __init__(self) -> None:
        binary = shutil.which("prometheus-alertmanager") or BINARY
        self.tmp = tempfile.TemporaryDirectory()
        self.sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
        threading.Thread(target=self.sink.serve_forever, daemon=True).start()
        self.port = 19000 + os.getpid() % 1000
        cfg = Path(self.tmp.name) / "am.yml"
        cfg.write_text(
            "route:\n  receiver: sink\n  group_by: [alertname, instance]\n  group_wait: 1s\n"
            "receivers:\n  - name: sink\n    webhook_configs:\n"
            f"      - url: http://127.0.0.1:{self.sink.server_address[1]}/\n"
        )
        self.proc = subprocess.Popen(
            [binary, f"--config.file={cfg}", f"--storage.path={self.tmp.name}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/-/ready").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit("alertmanager exited at start")
            time.sleep(0.05)
        raise SystemExit("alertmanager did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.sink.shutdown()
        self.tmp.cleanup()


def bodies(events: list[dict[str, object]], batch: int) -> list[bytes]:
    """The workload as Alertmanager alerts (labels: alertname = event, instance = resource)."""
    now = datetime.now(UTC)
    ends = (now + timedelta(hours=1)).isoformat()
    alerts = [{"labels": {"alertname": str(e["event"]), "instance": str(e["resource"]),
                          "severity": str(e["severity"])},
               "annotations": {"value": str(e.get("value", ""))}, "startsAt": now.isoformat(), "endsAt": ends}
              for e in events]
    return [msgspec.json.encode(alerts[i : i + batch]) for i in range(0, len(alerts), batch)]


async def throughput(port: int, payloads: list[bytes], clients: int) -> float:
    """Events per second through ``POST /api/v2/alerts`` from ``clients`` keep-alive connections."""
    from ingest import RawClient  # the same minimal client as ours

    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in payloads:
        queue.put_nowait(b)
    count = sum(len(msgspec.json.decode(b)) for b in payloads)

    async def worker() -> None:
        client = RawClient(port, "")
        try:
            while not queue.empty():
                status, body = await client.post("/api/v2/alerts", queue.get_nowait())
                if status != 200:
                    raise RuntimeError(f"alertmanager {status}: {body[:300]!r}")
        finally:
            await client.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return count / (time.perf_counter() - t0)


async def measure(events: list[dict[str, object]], batch: int, clients: int) -> float:
    am = Alertmanager()
    try:
        return await throughput(am.port, bodies(events, batch), clients)
    finally:
        am.stop()


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    workload: list[dict[str, object]] = [
        {"resource": f"rtr{i % 2000}", "event": "link_down", "severity": "major", "value": i} for i in range(20_000)]
    print(f"alertmanager: {asyncio.run(measure(workload, 100, 10)):,.0f} events/s (100 per request, 10 clients)")
