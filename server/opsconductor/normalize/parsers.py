"""Text and JSON parsers that turn command output or API bodies into records.

Every parser is a pure function ``(text or data, options) -> list[dict[str, str | Any]]``.
Addon manifests reference them by name (``regex``, ``table``, ``keyvalue``, ``json``)
through :data:`PARSERS`; they never contain Python.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jmespath
import jmespath.exceptions

Record = dict[str, Any]


class ParseError(ValueError):
    """The input did not have the shape the parser was configured for."""


def parse_regex(text: str, pattern: re.Pattern[str]) -> list[Record]:
    """One record per match; the named groups are the fields."""
    if not pattern.groupindex:
        raise ParseError("the regex pattern has no named groups (?P<name>...)")
    return [{k: (v.strip() if isinstance(v, str) else v) for k, v in m.groupdict().items()}
            for m in pattern.finditer(text)]


def _column_spans(header: str) -> list[tuple[str, int]]:
    # A column starts where a header word starts after two or more spaces (or at col 0);
    # single spaces stay inside a header such as "Alarm Type".
    spans: list[tuple[str, int]] = []
    for m in re.finditer(r"\S+(?: \S+)*", header):
        spans.append((m.group(0), m.start()))
    return spans


def _field_name(header: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", header).strip("_").lower()


def parse_table(text: str, *, header: re.Pattern[str] | None = None, skip: re.Pattern[str] | None = None,
                columns: Sequence[str] | None = None) -> list[Record]:
    """A column-aligned table: the header row fixes where each column starts.

    ``header`` finds the header line (default: the first non-empty line); lines made only
    of ``-``, ``=``, ``+`` or ``|`` and lines matching ``skip`` are ignored. Field names are
    the header words in snake_case unless ``columns`` renames them in order.
    """
    lines = text.splitlines()
    start = None
    for i, line in enumerate(lines):
        if (header.search(line) if header else line.strip()):
            start = i
            break
    if start is None:
        raise ParseError("no header line found" if header else "empty output")
    spans = _column_spans(lines[start])
    if columns is not None:
        if len(columns) != len(spans):
            raise ParseError(f"header has {len(spans)} columns, the parser names {len(columns)}")
        names = list(columns)
    else:
        names = [_field_name(h) for h, _ in spans]
    starts = [s for _, s in spans]
    out: list[Record] = []
    for line in lines[start + 1:]:
        if not line.strip() or re.fullmatch(r"[\s\-=+|]+", line) or (skip and skip.search(line)):
            continue
        row: Record = {}
        for j, name in enumerate(names):
            end = starts[j + 1] if j + 1 < len(starts) else None
            row[name] = line[starts[j]:end].strip() if end is not None else line[starts[j]:].strip()
        out.append(row)
    return out


def parse_keyvalue(text: str, *, separator: str = ":", block: re.Pattern[str] | None = None) -> list[Record]:
    """``key<sep>value`` lines -> records. ``block`` starts a new record (e.g. ``^Alarm \\d+``)."""
    out: list[Record] = []
    cur: Record = {}
    for line in text.splitlines():
        if block is not None and block.search(line):
            if cur:
                out.append(cur)
            cur = {}
            continue
        key, sep, value = line.partition(separator)
        if not sep or not key.strip():
            continue
        cur[_field_name(key)] = value.strip()
    if cur:
        out.append(cur)
    return out


def compile_jmespath(expression: str) -> jmespath.parser.ParsedResult:
    """Compile once at manifest load; raises ParseError with jmespath's message."""
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise ParseError(f"invalid JMESPath expression {expression!r}: {exc}") from None


def parse_json(data: Any, path: jmespath.parser.ParsedResult | None = None) -> list[Record]:
    """A JSON document (text or already decoded) -> the list of objects at ``path``."""
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise ParseError(f"not JSON: {exc}") from None
    found = path.search(data) if path is not None else data
    if found is None:
        return []
    if isinstance(found, Mapping):
        return [dict(found)]
    if not isinstance(found, list):
        raise ParseError(f"the JSON path selects a {type(found).__name__}, not a list of objects")
    out: list[Record] = []
    for item in found:
        if not isinstance(item, Mapping):
            raise ParseError(f"the JSON path selects a list containing a {type(item).__name__}")
        out.append(dict(item))
    return out


@dataclass(frozen=True)
class TextParser:
    """A configured parser, built from a manifest's ``parser:`` block."""

    type: str
    run: Callable[[Any], list[Record]]


def build_parser(options: Mapping[str, Any]) -> TextParser:
    """``{type: regex|table|keyvalue|json, ...}`` -> a TextParser; ParseError names the bad option."""
    kind = options.get("type")
    try:
        if kind == "regex":
            pat = re.compile(str(options["pattern"]), re.MULTILINE)
            if not pat.groupindex:
                raise ParseError("the regex pattern has no named groups (?P<name>...)")
            return TextParser("regex", lambda text: parse_regex(str(text), pat))
        if kind == "table":
            hdr = re.compile(str(options["header"])) if options.get("header") else None
            skp = re.compile(str(options["skip"])) if options.get("skip") else None
            cols = [str(c) for c in options["columns"]] if options.get("columns") else None
            return TextParser("table", lambda text: parse_table(str(text), header=hdr, skip=skp, columns=cols))
        if kind == "keyvalue":
            sep = str(options.get("separator", ":"))
            blk = re.compile(str(options["block"])) if options.get("block") else None
            return TextParser("keyvalue", lambda text: parse_keyvalue(str(text), separator=sep, block=blk))
        if kind == "json":
            expr = compile_jmespath(str(options["path"])) if options.get("path") else None
            return TextParser("json", lambda data: parse_json(data, expr))
    except re.error as exc:
        raise ParseError(f"invalid regular expression: {exc}") from None
    except KeyError as exc:
        raise ParseError(f"parser {kind!r} needs option {exc.args[0]!r}") from None
    raise ParseError(f"unknown parser type {kind!r}; expected one of {', '.join(PARSER_TYPES)}")


PARSER_TYPES = ("regex", "table", "keyvalue", "json")
