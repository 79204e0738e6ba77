"""Database down at start and lost while running: clear errors, 503s, and nothing accepted is lost."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from opsconductor.store.alert_writer import ALERTS, EVENTS
from tests.support.server import start_live_server
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.faults


def test_serve_exits_non_zero_with_a_clear_message_when_the_database_is_down(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "OPSCONDUCTOR_DATABASE_URL": "postgresql+asyncpg://postgres:s3cret@127.0.0.1:1/nope",
           "OPSCONDUCTOR_DATA_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "opsconductor", "serve", "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "cannot reach the database at postgresql+asyncpg://postgres:***@127.0.0.1:1/nope" in proc.stderr
    assert "s3cret" not in proc.stderr + proc.stdout


async def test_database_lost_while_running_gives_503_and_loses_nothing(db_url: str, settings_factory) -> None:  # type: ignore[no-untyped-def]
    if not db_url.startswith("postgresql"):
        pytest.skip("losing the database is a network fault: runs when OPSCONDUCTOR_TEST_POSTGRES_URL is set "
                    "(.ci/run sets it)")
    url = make_url(db_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    ev = {"resource": "rtr1", "event": "link_down", "severity": "major"}
    async with start_live_server(settings_factory(database_url=proxied)) as server:
        await server.runtime.pipeline.stop()  # hold processing so events wait in the log
        async with server.client(server.write_key) as c:
            r = await c.post("/api/v1/events", json=[ev] * 5)
            assert r.status_code == 202
            await proxy.cut()
            r = await c.post("/api/v1/events", json=ev)
            assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json")
            assert (await c.get("/readyz")).status_code == 503
            server.runtime.pipeline.start()  # the processor retries against the dead database
            await asyncio.sleep(1.0)
            await proxy.restore()
            for _ in range(100):
                if (await c.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert (await c.post("/api/v1/events", json=ev)).status_code == 202
            for _ in range(100):
                async with server.runtime.db.read() as conn:
                    pending = (await conn.execute(
                        select(func.count()).select_from(EVENTS).where(EVENTS.c.processed == False)  # noqa: E712
                    )).scalar_one()
                if pending == 0:
                    break
                await asyncio.sleep(0.1)
            async with server.runtime.db.read() as conn:
                dup = (await conn.execute(select(ALERTS.c.duplicate_count)
                                          .where(ALERTS.c.resource == "rtr1"))).scalar_one()  # not the self-alert
            assert pending == 0 and dup == 5  # 6 accepted events, one alert, nothing lost or doubled
    await proxy.cut()
