"""The SQLite driver under SQLAlchemy (store/sqlite_driver.py): one hand-off to aiosqlite's worker
thread per statement, with the semantics SQLAlchemy expects of a cursor. A real SQLite file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from opsconductor.store.db import Database
from opsconductor.store.sqlite_driver import OneHopConnection


@pytest.fixture
async def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    async with database.write() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    yield database
    await database.dispose()


def count_hand_offs(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    real = OneHopConnection._execute

    async def counted(self: OneHopConnection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", fn))
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(OneHopConnection, "_execute", counted)
    return calls


async def test_a_short_read_is_three_hand_offs(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    async with db.read() as conn:  # the pooled connection exists before counting
        await conn.execute(text("SELECT 1"))
    calls = count_hand_offs(monkeypatch)
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT 40 + 2"))).scalar_one() == 42
    assert len(calls) == 3, calls  # BEGIN, the SELECT with its rows, the rollback (aiosqlite's adapter: 9)


async def test_cursor_semantics_sqlalchemy_relies_on(db: Database) -> None:
    async with db.write() as conn:
        await conn.exec_driver_sql("INSERT INTO t (v) VALUES (?)", [("a",), ("b",), ("c",)])  # executemany
        r = await conn.execute(text("INSERT INTO t (v) VALUES ('d')"))
        assert r.lastrowid == 4
        r = await conn.execute(text("UPDATE t SET v = v || '!' WHERE id <= 2"))
        assert r.rowcount == 2
        got = (await conn.execute(text("INSERT INTO t (v) VALUES ('e'), ('f') RETURNING id"))).scalars().all()
        assert sorted(got) == [5, 6]
    async with db.read() as conn:
        result = await conn.execute(text("SELECT id, v FROM t ORDER BY id"))
        assert list(result.keys()) == ["id", "v"]
        assert result.fetchone() == (1, "a!")
        assert result.fetchmany(2) == [(2, "b!"), (3, "c")]
        assert result.fetchall() == [(4, "d"), (5, "e"), (6, "f")]
        with pytest.raises(Exception, match="no such table"):
            await conn.execute(text("SELECT * FROM missing"))
