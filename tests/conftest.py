"""Shared fixtures: a real database (SQLite file, or PostgreSQL when asked), a runtime, a live server.

Database-backed tests (those using ``db_url``) run on a fresh SQLite file by default.
With ``OPSCONDUCTOR_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``
they run against a fresh PostgreSQL database created for the session; `.ci/run` does that.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.server import LiveServer, start_live_server

PG_ENV = "OPSCONDUCTOR_TEST_POSTGRES_URL"

# Parallel workers (pytest-xdist, `./dev test -n 2`): servers started with the shipped addons listen
# for traps on the default port 1162; each worker gets its own, in its settings and its children's.
if (_worker := os.environ.get("PYTEST_XDIST_WORKER", "")).startswith("gw"):
    os.environ.setdefault("OPSCONDUCTOR_TRAP_PORT", str(11620 + int(_worker[2:])))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "db_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def _pg_database() -> Iterator[str | None]:
    base = os.environ.get(PG_ENV)
    if not base:
        yield None
        return
    import asyncio

    from sqlalchemy.engine import make_url

    from opsconductor.store.migrate import upgrade_sync
    from tests.support.pg import create_database, drop_database

    name = f"opsc_test_{uuid.uuid4().hex[:10]}"
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    asyncio.run(create_database(base, name))
    upgrade_sync(url)
    yield url
    asyncio.run(drop_database(base, name))


@pytest.fixture
async def db_url(tmp_path: Path, _pg_database: str | None) -> AsyncIterator[str]:
    """A migrated, empty database: a new SQLite file, or the session's PostgreSQL DB truncated."""
    if _pg_database:
        from tests.support.pg import truncate_all

        await truncate_all(_pg_database)
        yield _pg_database
        return
    from opsconductor.store.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'opsconductor.db'}"
    await upgrade(url)
    yield url


@pytest.fixture
def settings_factory(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    from opsconductor.config.settings import Settings

    def make(**overrides: object) -> Settings:
        base: dict[str, object] = {
            "data_dir": tmp_path / "data",
            "database_url": db_url,
            "rules_dir": tmp_path / "no-rules",
            "addons_dir": tmp_path / "no-addons",
            "housekeeping_interval_s": 0.2,
            "wait_timeout_s": 10.0,
        }
        base.update(overrides)
        return Settings(**base)  # type: ignore[arg-type]

    return make


@pytest.fixture
async def live_server(settings_factory) -> AsyncIterator[LiveServer]:  # type: ignore[no-untyped-def]
    """The real app on a loopback port, with an admin, a write and a read key."""
    async with start_live_server(settings_factory()) as server:
        yield server
