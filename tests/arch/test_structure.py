"""The structure the code promises (docs/architecture.md), checked on the source."""

from __future__ import annotations

import re
from pathlib import Path

from tests.arch.imports import ROOT, cycles, graph

WRITES = re.compile(r"\b(update|insert|delete)\(\s*(ALERTS|HISTORY)\b|__table__\.(update|insert|delete)\("
                    r"|\binsert_rows\(\s*\w+,\s*(ALERTS|HISTORY)\b"  # the driver's bulk insert (store/types.py)
                    r"|\b(UPDATE|INSERT INTO|DELETE FROM) (alerts|alert_history)\b")  # ORM or driver SQL


def _sources() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def test_the_packages_import_each_other_without_cycles() -> None:
    g = graph()
    assert {"model", "store", "correlate", "pipeline", "runtime", "plugins", "api", "cli"} <= set(g)
    assert cycles(g) == []


def test_the_arrows_point_one_way_between_the_stages() -> None:
    g = graph()
    assert g["model"] <= {"errors"}  # the vocabulary and the state machine need nothing else
    assert "correlate" not in g["store"] and "pipeline" not in g["store"]
    assert not ({"correlate", "sources", "notify", "api", "cli", "plugins", "runtime"} & g["pipeline"])
    for stage in ("correlate", "notify", "sources", "store", "normalize"):
        assert not ({"runtime", "plugins", "api"} & g[stage]), stage


def test_one_module_writes_alerts_and_their_history() -> None:
    writers = {p.relative_to(ROOT).as_posix() for p in _sources() if WRITES.search(p.read_text())}
    assert writers == {"store/alert_writer.py"}


def test_one_place_takes_the_processing_lock() -> None:
    takers = {p.relative_to(ROOT).as_posix() for p in _sources() if "pg_advisory_xact_lock" in p.read_text()}
    assert takers == {"store/alert_store.py"}


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The checks above are only as good as the finder."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_runtime_has_typed_stage_fields_not_a_components_dict() -> None:
    text = (ROOT / "runtime.py").read_text()
    assert "components:" not in text and "dict[str, Any]" not in text
    for p in _sources():
        assert "components[" not in p.read_text() and "components.get(" not in p.read_text(), p


def test_every_alert_change_enters_the_state_machine_through_transition() -> None:
    direct = re.compile(r"\b(on_event|on_action|on_redecide)\(")
    callers = {p.relative_to(ROOT).as_posix() for p in _sources() if direct.search(p.read_text())}
    assert callers == {"model/lifecycle.py"}
    users = {p.relative_to(ROOT).as_posix() for p in _sources() if re.search(r"\btransition\(", p.read_text())}
    assert {"store/alert_writer.py", "correlate/reevaluate.py"} <= users


def test_one_accept_path_into_the_event_log() -> None:
    into_log = re.compile(r"\binsert\(\s*EVENTS\b|INSERT INTO events\b", re.IGNORECASE)  # ORM or driver SQL
    writers = {p.relative_to(ROOT).as_posix() for p in _sources() if into_log.search(p.read_text())}
    assert writers == {"store/event_log.py"}
    users = {p.relative_to(ROOT).as_posix() for p in _sources() if re.search(r"\baccept_in\(", p.read_text())}
    assert {"pipeline.py", "sources/snmp_trap_process.py"} <= users  # the trap child process included
