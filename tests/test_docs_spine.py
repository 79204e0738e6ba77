"""The README's quick start and the configuration reference stay true."""

from __future__ import annotations

import json
import re
from pathlib import Path

from opsconductor.config.settings import Settings
from tests.support.server import start_live_server

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_quick_start_has_exactly_two_setup_commands_and_ci_uses_the_test_one() -> None:
    block = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["./dev serve", "./dev test"]
    assert "./dev test" in (ROOT / ".ci" / "run").read_text()


async def test_readme_curl_example_shows_a_deduplicated_alert(settings_factory) -> None:  # type: ignore[no-untyped-def]
    payload = json.loads(re.search(r"-d '(\[.*?\])'", README, re.S).group(1))  # type: ignore[union-attr]
    async with start_live_server(settings_factory(rules_dir=ROOT / "rules")) as server, server.admin as c:
        r = await c.post("/api/v1/events", params={"wait": "true"}, json=payload)
        assert r.status_code == 200, r.text
        alerts = (await c.get("/api/v1/alerts")).json()["alerts"]
    assert len(alerts) == 1
    assert alerts[0]["duplicate_count"] == 1 and alerts[0]["resource"] == "rtr1.ams"


def test_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    missing = [f"OPSCONDUCTOR_{name.upper()}" for name in Settings.model_fields
               if f"OPSCONDUCTOR_{name.upper()}" not in doc]
    assert not missing, f"document these in docs/configuration.md: {missing}"
