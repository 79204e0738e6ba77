"""Parse YAML into plain data while remembering where every key and item came from.

Rules, addons, routes and inventory are YAML that people edit by hand. Every error
we report about them must point at ``file:line:col``, so this loader returns the
plain data (dicts, lists, scalars) together with a :class:`Positions` map from a
data path such as ``("rules", 3, "when", "event")`` to its location.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarbool import ScalarBoolean
from ruamel.yaml.tag import Tag

from opsconductor.errors import ConfigError, Location

try:  # libyaml's scanner/parser/composer, from ruamel.yaml.clib
    from _ruamel_yaml import CParser  # type: ignore[import-not-found, import-untyped, unused-ignore]
except ImportError:  # pragma: no cover - no wheel for this platform: the pure path does all the work
    CParser = None

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
    if isinstance(node, (bool, ScalarBoolean)):  # an anchored boolean is a ScalarBoolean (an int)
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


# --- fast path ---------------------------------------------------------------------------
# libyaml (C) scans, parses and composes the node tree; we resolve scalars with ruamel's own
# YAML 1.2 regexes and build exactly what _plain() makes of the round-trip loader's output.
# Anything unusual (explicit tags, directives, complex or anchored non-string keys, duplicate
# keys, C-parser errors...) makes it decline, and the reference parse decides: the answer,
# or the error and its position, is then the reference's by construction.

MAX_FAST_DEPTH = 1000
"""Deeper documents go to the reference parser (libyaml's composer recurses on the C stack)."""


class _Decline(Exception):
    """The fast path does not handle this document; the reference parser will."""


def _tag(name: str) -> Tag:
    return Tag(suffix=f"tag:yaml.org,2002:{name}")


# Prebuilt tags: ruamel's Node() keeps a Tag instance as is instead of building one per node.
_STR, _SEQ, _MAP = _tag("str"), _tag("seq"), _tag("map")
_NULL, _BOOL, _INT, _FLOAT = _tag("null"), _tag("bool"), _tag("int"), _tag("float")
_TIMESTAMP, _MERGE, _VALUE, _OTHER = _tag("timestamp"), _tag("merge"), _tag("value"), _tag("other")
_KNOWN = MappingProxyType({str(t): t for t in (_NULL, _BOOL, _INT, _FLOAT, _TIMESTAMP, _MERGE, _VALUE)})


def _implicit_table() -> Mapping[Any, tuple[tuple[Tag, Any], ...]]:
    # The very regexes (and their order) ruamel's round-trip loader uses for YAML 1.2.
    table = VersionedResolver(version=(1, 2)).versioned_resolver
    return MappingProxyType(
        {first: tuple((_KNOWN.get(tag, _OTHER), rx) for tag, rx in rules) for first, rules in table.items()}
    )


_IMPLICIT = _implicit_table()
_BOOL_VALUES = MappingProxyType({"true": True, "false": False})


class _Version12:
    processing_version = (1, 2)


class _ScalarConstructor(RoundTripConstructor):
    """ruamel's own int/float/timestamp constructors, so numbers come out exactly as today."""

    @property
    def resolver(self) -> Any:
        return _Version12()


if CParser is not None:

    class _Composer(CParser):  # type: ignore[misc, valid-type]
        """libyaml's composer with our resolver hooks; it counts depth to refuse deep documents."""

        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            self.depth = 0

        def resolve(self, kind: Any, value: str | None, implicit: Any) -> Tag:
            if kind is ScalarNode and value is not None:
                if implicit[0]:  # plain (untagged or '!'): resolve like ruamel's VersionedResolver
                    for tag, rx in _IMPLICIT.get(value[:1], ()):
                        if rx.match(value):
                            return tag
                elif not implicit[1]:
                    return _OTHER  # a bare '!' tag on an empty node: the reference reads it otherwise
                return _STR
            return _SEQ if kind is SequenceNode else _MAP

        def descend_resolver(self, parent: Any, index: Any) -> None:
            self.depth += 1
            if self.depth > MAX_FAST_DEPTH:
                raise _Decline("too deep")

        def ascend_resolver(self) -> None:
            self.depth -= 1


class _Builder:
    """Walks the composed nodes the way _plain() walks ruamel's round-trip objects."""

    def __init__(self, text: str, positions: dict[DataPath, tuple[int, int]]) -> None:
        self.text = text
        self.bom = 1 if text.startswith("\ufeff") else 0  # libyaml's mark index skips the BOM
        self.pos = positions
        self._constructor: _ScalarConstructor | None = None

    @property
    def constructor(self) -> _ScalarConstructor:
        if self._constructor is None:
            self._constructor = _ScalarConstructor()
        return self._constructor

    def anchored(self, node: Node) -> bool:
        # A node's start mark is its first property; '&' there means an anchor (the reference
        # turns anchored scalars into ScalarInt/ScalarBoolean/... objects).
        i = self.bom + node.start_mark.index
        if i >= len(self.text) or self.text[i] == "!":  # '! &x true': the tag hides the anchor
            raise _Decline("cannot tell whether the node has an anchor")
        return self.text[i] == "&"

    def value(self, node: Node, path: DataPath) -> Any:
        tag = node.ctag
        if tag is _STR:
            return node.value
        if tag is _MAP:
            return self.mapping(node, path)
        if tag is _SEQ:
            items = []
            pos = self.pos
            for i, child in enumerate(node.value):
                p = (*path, i)
                mark = child.start_mark
                pos[p] = (mark.line + 1, mark.column + 1)
                items.append(self.value(child, p))
            return items
        if tag is _NULL:
            return None
        if tag is _BOOL:
            b = _BOOL_VALUES[node.value.lower()]
            return b
        if tag is _INT:
            v = node.value
            if v.isascii() and v.isdigit():
                return int(v)
            return int(self.constructor.construct_yaml_int(node))
        if tag is _FLOAT:
            return float(self.constructor.construct_yaml_float(node))
        if tag is _TIMESTAMP:
            return self.constructor.construct_yaml_timestamp(node)
        raise _Decline(f"tag {tag}")  # explicit tags, '<<' or '=' as values

    def key(self, node: Node) -> Any:
        """The key object the round-trip constructor builds (str keys are by far the common case)."""
        tag = node.ctag
        if tag is _STR or tag is _VALUE:  # ruamel retags an '=' key as a string
            return node.value
        if not isinstance(node, ScalarNode) or self.anchored(node):
            raise _Decline("complex or anchored key")
        if tag is _NULL:
            return None
        if tag is _BOOL:
            return _BOOL_VALUES[node.value.lower()]
        if tag is _INT:
            return self.constructor.construct_yaml_int(node)
        if tag is _FLOAT:
            return self.constructor.construct_yaml_float(node)
        if tag is _TIMESTAMP:
            return self.constructor.construct_yaml_timestamp(node)
        raise _Decline(f"key tag {tag}")

    def entries(self, node: Node) -> list[tuple[Any, Any, Node]]:
        """(key, its mark or None if merged in, value node) of a mapping, merged keys last."""
        out: list[tuple[Any, Any, Node]] = []
        seen: set[Any] = set()
        merge: Node | None = None
        for key_node, value_node in node.value:
            if key_node.ctag is _MERGE:
                if merge is not None:
                    raise _Decline("second merge key")
                merge = value_node
                continue
            key = self.key(key_node)
            if key in seen:
                raise _Decline("duplicate key")  # the reference raises the error with its position
            seen.add(key)
            out.append((key, key_node.start_mark, value_node))
        if merge is not None:
            if merge.ctag is _MAP:
                sources = [merge]
            elif merge.ctag is _SEQ and all(s.ctag is _MAP for s in merge.value):
                sources = merge.value
            else:
                raise _Decline("bad merge value")
            for source in sources:
                for key, _mark, value_node in self.entries(source):
                    if key not in seen:
                        seen.add(key)
                        out.append((key, None, value_node))
        return out

    def mapping(self, node: Node, path: DataPath) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        pos = self.pos
        if all(k.ctag is _STR for k, _v in node.value):
            # Plain string keys, no merge: the common case, without the general bookkeeping.
            for key_node, value_node in node.value:
                key = key_node.value
                if key in out:
                    raise _Decline("duplicate key")
                p = (*path, key)
                mark = key_node.start_mark
                pos[p] = (mark.line + 1, mark.column + 1)
                out[key] = self.value(value_node, p)
            return out
        home = node.start_mark
        for key, mark, value_node in self.entries(node):
            skey = str(key)
            p = (*path, skey)
            m = mark if mark is not None else home  # merged keys: the reference falls back to the map
            pos[p] = (m.line + 1, m.column + 1)
            out[key if isinstance(key, (int, float, bool)) else skey] = self.value(value_node, p)
        return out


# An anchor or alias indicator where a token can start, whose name is not libyaml's
# [A-Za-z0-9_-]+ up to a space or flow indicator: the reference reads longer names ('&a:').
_ODD_ANCHOR = re.compile(r"[&*](?<=(?:^|(?<=[\s\[\]{},\ufeff]))[&*])(?![A-Za-z0-9_-]*(?:[\s,\[\]{}]|\Z))")


def _left_to_reference(text: str) -> bool:
    """Texts where libyaml 0.1 and the reference's YAML 1.2 scanner are known to read differently."""
    # %YAML 1.1 switches the reference to YAML 1.1 rules (libyaml knows only 1.1); libyaml takes
    # NEL/LS/PS for line breaks, YAML 1.2 does not; the reference refuses tabs in places libyaml takes.
    return (
        text.startswith("%")
        or "\n%" in text
        or "\r%" in text
        or "\t" in text
        or "\x85" in text
        or "\u2028" in text
        or "\u2029" in text
        or text.find("\ufeff", 1) >= 0  # a BOM past the start: libyaml skips it, the reference refuses it
        or _ODD_ANCHOR.search(text) is not None
    )


def parse_yaml_fast(text: str, file: str) -> YamlDocument | None:
    """The same result as :func:`parse_yaml_reference` via libyaml, or None where it declines."""
    if CParser is None or _left_to_reference(text):
        return None
    positions = Positions(file)
    positions._map[()] = (1, 1)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a big acyclic tree: generational GC passes over it only cost time
    try:
        node = _Composer(text).get_single_node()
        if isinstance(node, ScalarNode) and node.style in ("|", ">"):
            return None  # a top-level block scalar: libyaml and the reference disagree on '#' lines at column 0
        data = None if node is None else _Builder(text, positions._map).value(node, ())
    except Exception:  # any doubt goes to the reference, which gives the answer or the error
        return None
    finally:
        if gc_was_enabled:
            gc.enable()
    return YamlDocument(data, positions)


def parse_yaml_reference(text: str, file: str) -> YamlDocument:
    """The authoritative (pure-Python, round-trip) parse; :func:`parse_yaml` must agree with it."""
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


def parse_yaml(text: str, file: str) -> YamlDocument:
    """Parse ``text`` (the content of ``file``); malformed YAML raises ConfigError with a position."""
    if len(text.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
        raise ConfigError(f"file is larger than {MAX_CONFIG_BYTES} bytes", Location(file, 1, 1))
    doc = parse_yaml_fast(text, file)
    return doc if doc is not None else parse_yaml_reference(text, file)


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
