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


def test_every_setting_is_documented_with_its_current_default() -> None:
    from opsconductor.cli.server_cmds import settings_table

    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert settings_table() in doc, "regenerate the table: opsconductor schema settings"


def test_settings_file_example_in_the_docs_loads(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    doc = (ROOT / "docs" / "configuration.md").read_text()
    example = doc.split("```yaml", 1)[1].split("```", 1)[0]
    (tmp_path / "oc.yaml").write_text(example)
    monkeypatch.setenv("OPSCONDUCTOR_CONFIG", str(tmp_path / "oc.yaml"))
    monkeypatch.setenv("OPSCONDUCTOR_PORT", "9999")  # the environment wins over the file
    s = Settings()
    assert (s.workers, s.alert_timeout_s, s.port) == (4, 43200, 9999)
    assert s.effective_database_url.startswith("postgresql+asyncpg://")
    (tmp_path / "bad.yaml").write_text("port: 1\ncolour: red\n")
    monkeypatch.setenv("OPSCONDUCTOR_CONFIG", str(tmp_path / "bad.yaml"))
    import pytest

    from opsconductor.errors import ConfigError

    with pytest.raises(ConfigError, match=r"bad.yaml:2:1: unknown setting 'colour'"):
        Settings()
