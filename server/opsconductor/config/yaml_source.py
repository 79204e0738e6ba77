"""Parse YAML into plain data while remembering where every key and item came from.

Rules, addons, routes and inventory are YAML that people edit by hand. Every error
we report about them must point at ``file:line:col``, so this loader returns the
plain data (dicts, lists, scalars) together with a :class:`Positions` map from a
data path such as ``("rules", 3, "when", "event")`` to its location.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from opsconductor.errors import ConfigError, Location

MAX_CONFIG_BYTES = 2_000_000
"""A hand-written config file larger than this is almost certainly a mistake."""

DataPath = tuple[str | int, ...]


@dataclass
class Positions:
    """Locations of keys and items of one YAML document; lookups fall back to the parent."""

    file: str
    _map: dict[DataPath, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: DataPath) -> Location:
        """Location of ``path``, or of its nearest ancestor we know about."""
        p = tuple(path)
        while p:
            if p in self._map:
                line, col = self._map[p]
                return Location(self.file, line, col)
            p = p[:-1]
        line, col = self._map.get((), (1, 1))
        return Location(self.file, line, col)

    def error(self, path: DataPath, message: str) -> ConfigError:
        """A ConfigError at ``path``; the field is the dotted path, for machine readers."""
        return ConfigError(message, self.at(path), field=".".join(str(x) for x in path))

    def paths(self) -> Iterator[DataPath]:
        return iter(self._map)


@dataclass(frozen=True)
class YamlDocument:
    """Plain data from one YAML file plus where each part of it came from."""

    data: Any
    positions: Positions


def _plain(node: Any, path: DataPath, positions: Positions) -> Any:
    # ruamel's round-trip nodes carry .lc (line/col, 0-based); we keep them in a side
    # map so the rest of the code works on ordinary dicts and lists.
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            try:
                line, col = node.lc.key(key)
            except (KeyError, TypeError):
                line, col = node.lc.line, node.lc.col
            positions._map[(*path, str(key))] = (line + 1, col + 1)
            out[str(key) if not isinstance(key, (int, float, bool)) else key] = _plain(
                value, (*path, str(key)), positions
            )
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, value in enumerate(node):
            try:
                line, col = node.lc.item(i)
            except (KeyError, TypeError):
                line, col = node.lc.line, node.lc.col
            positions._map[(*path, i)] = (line + 1, col + 1)
            items.append(_plain(value, (*path, i), positions))
        return items
    if isinstance(node, str):
        return str(node)  # drop ruamel's scalar string subclasses
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def parse_yaml(text: str, file: str) -> YamlDocument:
    """Parse ``text`` (the content of ``file``); malformed YAML raises ConfigError with a position."""
    if len(text.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
        raise ConfigError(f"file is larger than {MAX_CONFIG_BYTES} bytes", Location(file, 1, 1))
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        node = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(x for x in (exc.context, exc.problem) if x) or "invalid YAML"
        if mark is not None:
            raise ConfigError(problem, Location(file, mark.line + 1, mark.column + 1)) from None
        raise ConfigError(problem, Location(file)) from None
    except YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", Location(file)) from None
    positions = Positions(file)
    positions._map[()] = (1, 1)
    return YamlDocument(_plain(node, (), positions), positions)


def load_yaml(path: Path) -> YamlDocument:
    """Read and parse a YAML file; unreadable or oversized files raise ConfigError."""
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"file is larger than {MAX_CONFIG_BYTES} bytes ({size})", Location(str(path), 1, 1))
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", Location(str(path))) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text: {exc.reason}", Location(str(path))) from None
    return parse_yaml(text, str(path))
