"""Storage faults answered right: time limits, 503 (never 500) with Retry-After, nothing stored twice."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from opsconductor.store.alert_writer import EVENTS
from opsconductor.store.migrate import upgrade
from tests.safety.support import eventually, self_alert_status, self_alerts
from tests.support.server import LiveServer, start_live_server
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.faults

EV = {"resource": "rtr1", "event": "link_down", "severity": "major"}


async def stored(server: LiveServer) -> int:
    async with server.runtime.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(EVENTS))).scalar_one())


def assert_503(r: Any) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json") and r.headers["retry-after"]


async def test_wait_true_never_answers_503_for_events_it_stored(settings_factory: Any) -> None:
    async with start_live_server(settings_factory(wait_timeout_s=0.5)) as server:
        await server.runtime.pipeline.stop()  # processing held: the wait times out
        async with server.client(server.write_key) as c:
            r = await c.post("/api/v1/events", params={"wait": "true"}, json=[EV, EV])
            assert r.status_code == 202, r.text
            body = r.json()
            assert body["accepted"] == 2 and [x["outcome"] for x in body["results"]] == ["pending", "pending"]
            assert [x["id"] for x in body["results"]] == body["ids"]
            server.runtime.pipeline.start()
            r = await c.post("/api/v1/events", params={"wait": "true"}, json=EV)
            assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "deduplicated"
        assert await stored(server) == 3


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                         text=True, timeout=30, check=False)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root, as in CI): {res.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30, check=False)


def fill(path: Path) -> Path:
    """Use every free byte of the file system (ENOSPC ends it)."""
    filler = path / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as f:
        while True:
            f.write(b"\0" * 65536)
            f.flush()
            os.fsync(f.fileno())
    return filler


async def test_sqlite_disk_full_is_503_then_recovers_with_a_self_alert(tmp_path: Path, settings_factory: Any) -> None:
    disk = tmp_path / "disk"
    with small_tmpfs(disk, "6m"):
        url = f"sqlite+aiosqlite:///{disk / 'opsconductor.db'}"
        await upgrade(url)
        settings = settings_factory(database_url=url, data_dir=disk, selfmon_interval_s=0.1)
        async with start_live_server(settings) as server, server.client(server.write_key) as c:
            assert (await c.post("/api/v1/events", json=EV)).status_code == 202
            filler = fill(disk)
            statuses = []
            for i in range(200):  # the WAL may still have room for a few: write until the disk says no
                r = await c.post("/api/v1/events", json=[{**EV, "resource": f"r{i}-{j}"} for j in range(200)])
                statuses.append(r.status_code)
                if r.status_code != 202:
                    break
            assert statuses[-1] == 503 and 500 not in statuses, statuses
            assert_503(r)
            assert "full" in r.json()["detail"] or "I/O" in r.json()["detail"], r.text
            ready = await c.get("/readyz")
            assert ready.status_code == 503 and "refuses writes" in ready.json()["detail"], ready.text
            filler.unlink()  # space freed

            async def ready_again() -> bool:
                return (await c.get("/readyz")).status_code == 200

            await eventually(ready_again)
            assert (await c.post("/api/v1/events", json=EV)).status_code == 202
            await eventually(lambda: self_alert_status(server, "database", "database_unavailable"))
            row = (await self_alerts(server))[("database", "database_unavailable")]
            assert row["status"] == "active" and "the database was unusable from" in row["summary"]


@pytest.fixture
async def pg_proxy(db_url: str) -> Any:
    if not db_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL fault: runs when OPSCONDUCTOR_TEST_POSTGRES_URL is set (.ci/run sets it)")
    url = make_url(db_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    proxy.thaw()
    await proxy.cut()


async def test_frozen_postgresql_is_a_503_within_about_2s_and_nothing_is_stored_twice(
    pg_proxy: Any, settings_factory: Any
) -> None:
    proxy, url = pg_proxy
    async with start_live_server(settings_factory(database_url=url, selfmon_interval_s=0.2)) as server:
        async with server.client(server.write_key) as c:
            assert (await c.post("/api/v1/events", json=[EV] * 5)).status_code == 202
            proxy.freeze()
            t0 = time.monotonic()
            r = await c.post("/api/v1/events", json=EV)
            took = time.monotonic() - t0
            assert_503(r)
            assert took < 3.5, took
            t0 = time.monotonic()
            assert (await c.get("/readyz")).status_code == 503
            assert time.monotonic() - t0 < 2.5
            proxy.thaw()

            async def ready() -> bool:
                return (await c.get("/readyz")).status_code == 200

            await eventually(ready, within=30)
            assert (await c.post("/api/v1/events", json=EV)).status_code == 202  # the client's retry
            await asyncio.sleep(1.0)
        assert await stored(server) == 6 + len(await self_alerts(server))  # the 503 one was not stored


async def test_postgresql_starting_up_or_shutting_down_is_503_not_500(pg_proxy: Any, settings_factory: Any) -> None:
    proxy, url = pg_proxy
    async with start_live_server(settings_factory(database_url=url)) as server, server.client(server.write_key) as c:
        assert (await c.post("/api/v1/events", json=EV)).status_code == 202
        for code, text in (("57P03", "the database system is starting up"),
                           ("57P01", "terminating connection due to administrator command")):
            proxy.answer_pg_error(code, text)
            proxy.drop_connections()
            await server.runtime.db.engine.dispose()  # no pooled connection survives a restart either
            r = await c.post("/api/v1/events", json=EV)
            assert_503(r)
            assert (await c.get("/readyz")).status_code == 503
            assert (await c.get("/api/v1/alerts")).status_code == 503
        proxy.answer_pg_error(None)

        async def ready() -> bool:
            return (await c.get("/readyz")).status_code == 200

        await eventually(ready)
        assert (await c.post("/api/v1/events", json=EV)).status_code == 202
