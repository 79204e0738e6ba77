"""A live server running the shipped rules (copied, so tests may edit them)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.server import LiveServer, start_live_server

SHIPPED = Path(__file__).parents[2] / "rules"


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    d = tmp_path / "rules"
    d.mkdir()
    for f in SHIPPED.glob("*.yaml"):
        if f.name != "notify.yaml":  # the notify stage's routing file is not ours
            shutil.copy(f, d / f.name)
    return d


@pytest.fixture
async def rules_server(settings_factory, rules_dir: Path) -> AsyncIterator[LiveServer]:  # type: ignore[no-untyped-def]
    settings = settings_factory(rules_dir=rules_dir, rules_reevaluate_interval_s=0.2, rules_watch=False)
    async with start_live_server(settings) as server:
        yield server
