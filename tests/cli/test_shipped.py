"""Shipped files are found in a checkout, and outside one `serve` defaults to the shipped rules and addons."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsconductor.config.settings import Settings
from opsconductor.shipped import CHECKOUT, shipped, with_shipped_defaults


def test_in_a_checkout_the_shipped_folders_are_the_repositorys() -> None:
    for name in ("migrations", "schemas", "rules", "addons"):
        assert shipped(name) == CHECKOUT / name and shipped(name).is_dir()
    from opsconductor.store.db import MIGRATIONS_DIR

    assert (MIGRATIONS_DIR / "env.py").is_file()


def test_outside_a_checkout_unset_paths_default_to_the_shipped_ones(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no rules/ or addons/ here
    s = with_shipped_defaults(Settings())
    assert (s.rules_dir, s.addons_dir) == (shipped("rules"), shipped("addons"))
    assert s.effective_notify_file == shipped("rules") / "notify.yaml"


def test_paths_that_exist_or_were_given_are_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules").mkdir()
    s = with_shipped_defaults(Settings())
    assert s.rules_dir == Path("rules") and s.effective_notify_file == Path("rules/notify.yaml")  # this folder's own
    assert s.addons_dir == shipped("addons")
    monkeypatch.setenv("OPSCONDUCTOR_ADDONS_DIR", str(tmp_path / "missing"))
    s = with_shipped_defaults(Settings())
    assert s.addons_dir == tmp_path / "missing"  # given explicitly: never replaced, even when missing
