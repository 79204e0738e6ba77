"""`opsconductor addons check|list|enable|disable` as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.sources.conftest import copy_addon

BAD = Path(__file__).resolve().parent / "bad_manifests" / "unknown_option.yaml"


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "opsconductor", "addons", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60)


def test_check_reports_file_line_col_and_exit_status(tmp_path: Path) -> None:
    good = copy_addon("generic-snmp", tmp_path / "addons")
    r = run(["check", str(good)], {})
    assert r.returncode == 0 and "1 addon manifest(s) OK" in r.stdout
    r = run(["check", str(BAD)], {})
    assert r.returncode == 1
    assert r.stderr.strip().startswith(f"{BAD}:8:5: unknown option 'comunity'")
    inv = tmp_path / "inv.yaml"
    inv.write_text("targets:\n  - name: a\n    address: 127.0.0.1\n    credential: public\n")
    r = run(["check"], {"OPSCONDUCTOR_ADDONS_DIR": str(tmp_path / "addons"), "OPSCONDUCTOR_INVENTORY_FILE": str(inv)})
    assert r.returncode == 1
    assert f"{inv}:4:5: must be a reference" in r.stderr and "public" not in r.stderr.replace(str(inv), "")


def test_list_enable_disable(tmp_path: Path, db_url: str) -> None:
    copy_addon("ping", tmp_path / "addons")
    copy_addon("prtg", tmp_path / "addons")
    env = {"OPSCONDUCTOR_ADDONS_DIR": str(tmp_path / "addons"), "OPSCONDUCTOR_DATABASE_URL": db_url}
    r = run(["list"], env)
    assert r.returncode == 0, r.stderr
    assert [line.split()[:3] for line in r.stdout.splitlines()] == [["ping", "1.0.0", "enabled"],
                                                                   ["prtg", "1.0.0", "enabled"]]
    assert run(["disable", "prtg"], env).returncode == 0
    assert "prtg                 1.0.0      disabled" in run(["list"], env).stdout
    assert run(["enable", "prtg"], env).returncode == 0
    assert "disabled" not in run(["list"], env).stdout
    r = run(["disable", "nope"], env)
    assert r.returncode == 1 and "no addon 'nope'" in r.stderr
