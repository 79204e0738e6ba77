"""Fixtures of the sources tests: real snmpd (and sshd, HTTP servers) on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sources.peers import SnmpAgent

REPO = Path(__file__).resolve().parents[2]
ADDONS = REPO / "addons"


@pytest.fixture
def snmpd(tmp_path: Path) -> Iterator[SnmpAgent]:
    agent = SnmpAgent(tmp_path / "snmpd")
    agent.set_interface(1, "ge-0/0/1", "GigabitEthernet 1", oper=1)
    agent.set_interface(2, "ge-0/0/2", "GigabitEthernet 2", oper=1)
    agent.start()
    yield agent
    agent.stop()


def copy_addon(name: str, dest: Path, **replace: str) -> Path:
    """Copy a shipped addon into a test's addons dir, optionally shortening intervals."""
    text = (ADDONS / name / "addon.yaml").read_text()
    for old, new in replace.items():
        text = text.replace(old.replace("__", " "), new)
    d = dest / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "addon.yaml").write_text(text)
    return d / "addon.yaml"
