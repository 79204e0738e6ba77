"""`opsconductor addons check|list|enable|disable` as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.sources.conftest import copy_addon

BAD = Path(__file__).resolve().parent / "bad_manifests" / "unknown_option.yaml"


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A real `opsconductor addons ...` process (how users run it)."""
    import os

    return subprocess.run([sys.executable, "-m", "opsconductor", "addons", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60)


def run_in_process(args: list[str], env: dict[str, str], monkeypatch, capsys) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    """The same CLI entry point in this process (fast: no interpreter start per call)."""
    from opsconductor.cli.main import main

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    code = main(["addons", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


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


def test_list_enable_disable(tmp_path: Path, db_url: str, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    copy_addon("ping", tmp_path / "addons")
    copy_addon("prtg", tmp_path / "addons")
    env = {"OPSCONDUCTOR_ADDONS_DIR": str(tmp_path / "addons"), "OPSCONDUCTOR_DATABASE_URL": db_url}
    code, out, err = run_in_process(["list"], env, monkeypatch, capsys)
    assert code == 0, err
    assert [line.split()[:3] for line in out.splitlines()] == [["ping", "1.0.0", "enabled"],
                                                               ["prtg", "1.0.0", "enabled"]]
    assert run_in_process(["disable", "prtg"], env, monkeypatch, capsys)[0] == 0
    assert "prtg                 1.0.0      disabled" in run_in_process(["list"], env, monkeypatch, capsys)[1]
    assert run_in_process(["enable", "prtg"], env, monkeypatch, capsys)[0] == 0
    assert "disabled" not in run_in_process(["list"], env, monkeypatch, capsys)[1]
    code, _, err = run_in_process(["disable", "nope"], env, monkeypatch, capsys)
    assert code == 1 and "no addon 'nope'" in err
