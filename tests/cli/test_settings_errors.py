"""Every settings error is one line naming the variable and the expected form: exit 2, no traceback,
never the value (it may be a secret). Issue 8 item 3. The CLI runs as a real child process."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import PG_ENV

ROOT = Path(__file__).resolve().parents[2]


def serve(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "addons").mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith("OPSCONDUCTOR_")}
    return subprocess.run(
        [sys.executable, "-m", "opsconductor", "serve", *args], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, env={**base, "PYTHONPATH": str(ROOT / "server"), "OPSCONDUCTOR_DATA_DIR": str(tmp_path / "d"),
                         "OPSCONDUCTOR_PORT": "1", **env})  # port 1: never a live server


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("opsconductor:")]
    assert len(lines) == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"OPSCONDUCTOR_PORT": "abc"},
         "opsconductor: OPSCONDUCTOR_PORT: Input should be a valid integer, unable to parse string as an integer "
         "(expected an integer >= 1 and <= 65535)"),
        ({"OPSCONDUCTOR_PORT": "70000"},
         "opsconductor: OPSCONDUCTOR_PORT: Input should be less than or equal to 65535 "
         "(expected an integer >= 1 and <= 65535)"),
        ({"OPSCONDUCTOR_LOG_LEVEL": "verbose"},
         "opsconductor: OPSCONDUCTOR_LOG_LEVEL: Input should be 'debug', 'info', 'warning' or 'error' "
         "(expected one of debug, info, warning, error)"),
        ({"OPSCONDUCTOR_TRAP_COMMUNITIES": "public"},
         'opsconductor: OPSCONDUCTOR_TRAP_COMMUNITIES: cannot be parsed (expected a JSON list of strings, '
         'e.g. ["env:NAME"])'),
        ({"OPSCONDUCTOR_DATABASE_URL": "postgres://noc:s3cr3t-pw@127.0.0.1:5432/oc"},
         "opsconductor: OPSCONDUCTOR_DATABASE_URL: scheme 'postgres' is not supported "
         "(expected postgresql+asyncpg://USER:PASSWORD@HOST:5432/DB or sqlite+aiosqlite:///PATH)"),
        ({"OPSCONDUCTOR_WORKERS": "0"}, "opsconductor: OPSCONDUCTOR_WORKERS: must be at least 1 (expected an integer)"),
        ({"OPSCONDUCTOR_RULES_WATCH": "maybe"},
         "opsconductor: OPSCONDUCTOR_RULES_WATCH: Input should be a valid boolean, unable to interpret input "
         "(expected true or false)"),
    ],
    ids=["port-abc", "port-range", "log-level", "trap-communities", "postgres-scheme", "workers", "bool"],
)
def test_a_bad_setting_is_one_line_and_exit_2(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    proc = serve(tmp_path, env)
    assert one_line(proc) == expected
    for secret in ("public", "s3cr3t-pw"):
        assert secret not in proc.stderr


def test_a_bad_value_in_the_settings_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "oc.yaml").write_text("workers: many\n")
    line = one_line(serve(tmp_path, {"OPSCONDUCTOR_CONFIG": str(tmp_path / "oc.yaml")}))
    assert line.startswith(f"opsconductor: workers in {tmp_path / 'oc.yaml'}: Input should be a valid integer")


@pytest.mark.db
def test_a_missing_postgres_database_is_one_line(tmp_path: Path) -> None:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"needs PostgreSQL: set {PG_ENV}")
    from sqlalchemy.engine import make_url

    url = make_url(base).set(database=f"opsc_missing_{uuid.uuid4().hex[:8]}").render_as_string(hide_password=False)
    line = one_line(serve(tmp_path, {"OPSCONDUCTOR_DATABASE_URL": url}))
    assert line.startswith("opsconductor: cannot reach the database at postgresql+asyncpg://")
    assert line.endswith("does not exist")


@pytest.mark.db
def test_postgres_without_migrate_is_one_line_saying_what_to_run(tmp_path: Path) -> None:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"needs PostgreSQL: set {PG_ENV}")
    import asyncio

    from sqlalchemy.engine import make_url

    from tests.support.pg import create_database, drop_database

    name = f"opsc_empty_{uuid.uuid4().hex[:8]}"
    asyncio.run(create_database(base, name))
    try:
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
        line = one_line(serve(tmp_path, {"OPSCONDUCTOR_DATABASE_URL": url}))
    finally:
        asyncio.run(drop_database(base, name))
    from opsconductor.store.migrate import head_revision

    assert line.endswith(f"is not ready: its schema is at nothing (empty database), this version needs "
                         f"{head_revision(url)}: run `opsconductor db upgrade` or `opsconductor serve --migrate`")
