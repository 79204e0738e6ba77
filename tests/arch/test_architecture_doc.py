"""docs/architecture.md stays true: the modules and names it cites exist, the stage order it
states is the order of the calls in ``Pipeline.process_once``, the runtime fields exist."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

from opsconductor.pipeline import Pipeline
from opsconductor.runtime import Runtime

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "server" / "opsconductor"
DOC = (REPO / "docs" / "architecture.md").read_text()
CODE = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", DOC, flags=re.S))


def _exists(path: str) -> bool:
    return (PKG / path).exists() or (REPO / path).exists()


def test_every_module_and_folder_it_names_exists() -> None:
    paths = [c.split(":")[0].strip() for c in CODE if re.fullmatch(r"[\w/]+(\.py)?(: .*)?", c) and (
        c.split(":")[0].endswith(".py") or c.endswith("/"))]
    assert len(paths) > 20
    missing = [p for p in paths if p != "/" and not _exists(p)]
    assert missing == []


def test_every_name_it_cites_in_a_module_is_defined_there() -> None:
    cited = [c for c in CODE if re.fullmatch(r"[\w/]+\.py: \w+(\(\))?", c)]
    assert len(cited) >= 5
    for c in cited:
        path, name = c.split(": ")
        source = (PKG / path).read_text()
        name = name.removesuffix("()")
        assert re.search(rf"^(async )?(def|class) {name}\b", source, re.M), c


def test_dotted_names_exist() -> None:
    import importlib

    for c in CODE:
        m = re.fullmatch(r"(pipeline|plugins|Pipeline)\.(\w+)", c)
        if m is not None and m.group(2) == "py":
            continue
        if m is None:
            continue
        owner = Pipeline if m.group(1) == "Pipeline" else importlib.import_module(f"opsconductor.{m.group(1)}")
        assert hasattr(owner, m.group(2)), c


def test_the_stage_order_it_states_is_the_order_of_process_once() -> None:
    steps = re.findall(r"^\d\. `self\.(\w+)\.(\w+)`", DOC, re.M)
    assert [s[0] for s in steps] == ["correlator", "store", "suppression"]
    source = inspect.getsource(Pipeline.process_once)
    positions = [source.index(f"self.{obj}.{method}(") for obj, method in steps]
    assert positions == sorted(positions)


def test_the_runtime_fields_it_names_exist() -> None:
    named = set(re.findall(r"`rt\.(\w+)`", DOC))
    assert {"pipeline", "store", "rules", "sources", "notify"} <= named
    fields = {f.name for f in dataclasses.fields(Runtime)} | {n for n, _ in inspect.getmembers(Runtime)}
    assert named <= fields
