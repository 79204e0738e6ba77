"""Alertmanager's label matchers, and their mapping onto our alerts and silences (pure).

An alert seen through the Alertmanager API has a label set: its labels, plus ``alertname``
(our ``event``), ``resource``, ``component``, ``severity`` and ``source``. A matcher names
one of those; :func:`field_of` says which of our matcher fields it is. Alertmanager treats a
missing label as the empty string, so ``name=""`` matches "absent" and a regex that
matches "" also matches an absent label; the silence mapping keeps that.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from opsconductor.correlate.matchers import MAX_REGEX_LENGTH, backtracking_risk
from opsconductor.errors import InputError

FIELD_LABELS = {"alertname": "event", "resource": "resource", "component": "component",
                "severity": "severity", "source": "source"}
LABEL_OF_FIELD = {v: k for k, v in FIELD_LABELS.items()}
# Labels the Prometheus addon adds for its own bookkeeping; shown as annotations, not identity.
ANNOTATION_PREFIX = "annotation_"
BOOKKEEPING_LABELS = ("starts_at", "generator_url")

_MATCHER = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|[^\s=!~"]+)\s*(=~|!~|!=|=)\s*(.*?)\s*$', re.S)


@dataclass(frozen=True, slots=True)
class AmMatcher:
    """Alertmanager's matcher: ``name`` (=|!=|=~|!~) ``value``."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        hit = re.fullmatch(self.value, actual) is not None if self.is_regex else actual == self.value
        return hit == self.is_equal

    def __str__(self) -> str:
        op = ("=~" if self.is_regex else "=") if self.is_equal else ("!~" if self.is_regex else "!=")
        return f"{self.name}{op}{json.dumps(self.value)}"


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            value = json.loads(text)
        except ValueError:
            raise InputError(f"bad quoted value {text}") from None
        if not isinstance(value, str):
            raise InputError(f"bad quoted value {text}")
        return value
    return text


def parse_matcher(text: str) -> AmMatcher:
    """``name="value"``, ``name=~"re.*"``, ``name!=v``, ``name!~v`` (quotes optional), as amtool sends."""
    m = _MATCHER.match(text.strip().removeprefix("{").removesuffix("}"))
    if m is None:
        raise InputError(f"bad matcher format: {text}")
    name, op, raw = _unquote(m.group(1)), m.group(2), _unquote(m.group(3))
    if not name:
        raise InputError(f"bad matcher format: {text} (no label name)")
    is_regex = "~" in op
    if is_regex:
        check_regex(raw)
    return AmMatcher(name, raw, is_regex=is_regex, is_equal=op in ("=", "=~"))


def parse_filter(values: list[str] | None) -> list[AmMatcher]:
    """The ``filter`` query parameter: each item one matcher, or a ``{a="b", c=~"d"}`` group."""
    out: list[AmMatcher] = []
    for v in values or []:
        text = v.strip()
        if text.startswith("{") and text.endswith("}"):
            out += [parse_matcher(part) for part in _split_group(text[1:-1])]
        elif text:
            out.append(parse_matcher(text))
    return out


def _split_group(text: str) -> list[str]:
    parts, buf, quoted, escaped = [], "", False, False
    for ch in text:
        if escaped:
            buf, escaped = buf + ch, False
        elif ch == "\\":
            buf, escaped = buf + ch, True
        elif ch == '"':
            buf, quoted = buf + ch, not quoted
        elif ch == "," and not quoted:
            parts.append(buf)
            buf = ""
        else:
            buf += ch
    parts.append(buf)
    return [p for p in parts if p.strip()]


def check_regex(pattern: str) -> None:
    """A regex a client may have us run over every alert: valid, bounded, no catastrophic backtracking."""
    if len(pattern) > MAX_REGEX_LENGTH:
        raise InputError(f"bad regex: longer than {MAX_REGEX_LENGTH} characters")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise InputError(f"bad regex {pattern!r}: {exc}") from None
    risk = backtracking_risk(pattern)
    if risk:
        raise InputError(f"bad regex {pattern!r}: {risk}")


def field_of(label: str) -> str:
    """Our matcher field for an Alertmanager label name."""
    return FIELD_LABELS.get(label, f"labels.{label}")


def label_of(field: str) -> str:
    return field[7:] if field.startswith("labels.") else LABEL_OF_FIELD.get(field, field)


# -- Alertmanager matchers -> our silence matchers ------------------------------------------------
def _positive(m: AmMatcher) -> Any:
    """The condition of ``name=value`` / ``name=~value`` in our matcher language."""
    if not m.is_regex:
        return m.value if m.value else [None, ""]  # "" means: the label is absent (or empty)
    if re.fullmatch(m.value, ""):
        return [None, {"regex": m.value}]  # Alertmanager: an absent label is "" and matches
    return {"regex": m.value}


def to_silence_matchers(matchers: list[AmMatcher], field_for: Callable[[str], str] = field_of) -> dict[str, Any]:
    """Our silence's ``matchers`` mapping for Alertmanager matchers (all must hold)."""
    by_field: dict[str, tuple[list[AmMatcher], list[AmMatcher]]] = {}
    for m in matchers:
        pos, neg = by_field.setdefault(field_for(m.name), ([], []))
        (pos if m.is_equal else neg).append(m)
    out: dict[str, Any] = {}
    for fld, (pos, neg) in by_field.items():
        negs = [_positive(m) for m in neg]
        not_part = negs[0] if len(negs) == 1 else _flatten(negs)
        unique_pos = list({(m.value, m.is_regex): m for m in pos}.values())
        if len(unique_pos) > 1:
            raise InputError(f"several '=' or '=~' matchers on {label_of(fld)!r}: combine them into one regex")
        if not unique_pos:
            out[fld] = {"not": not_part}
            continue
        p = unique_pos[0]
        cond = _positive(p)
        if not neg:
            out[fld] = cond
        elif isinstance(cond, dict) and "regex" in cond:
            out[fld] = {**cond, "not": not_part}
        else:
            raise InputError(f"matchers on {label_of(fld)!r}: an exact value cannot be combined with '!=' or '!~'")
    return out


def _flatten(conds: list[Any]) -> list[Any]:
    out: list[Any] = []
    for c in conds:
        out += c if isinstance(c, list) else [c]
    return out


# -- our matchers -> Alertmanager matchers (for display) ------------------------------------------
def _alternation(values: list[Any]) -> str | None:
    """A regex for an any-of list of plain values (None when an item is not a plain value)."""
    parts: list[str] = []
    for v in values:
        if v is None:
            parts.append("")
        elif isinstance(v, (str, int, float)) and not isinstance(v, bool):
            parts.append(re.escape(str(v)))
        elif isinstance(v, dict) and set(v) == {"regex"}:
            parts.append(f"(?:{v['regex']})")
        else:
            return None
    return "|".join(parts)


def _conds(label: str, spec: Any, equal: bool, notes: list[str]) -> list[AmMatcher]:
    if spec is None or spec == [None, ""]:
        return [AmMatcher(label, "", is_equal=equal)]
    if isinstance(spec, (str, int, float)) and not isinstance(spec, bool):
        return [AmMatcher(label, str(spec), is_equal=equal)]
    if isinstance(spec, list):
        rx = _alternation(spec)
        if rx is not None:
            return [AmMatcher(label, rx, is_regex=True, is_equal=equal)]
    if isinstance(spec, dict):
        out: list[AmMatcher] = []
        for op, arg in spec.items():
            if op == "regex" and isinstance(arg, str):
                out.append(AmMatcher(label, arg, is_regex=True, is_equal=equal))
            elif op == "not" and equal:
                out += _conds(label, arg, False, notes)
            elif op == "exists" and isinstance(arg, bool):
                out.append(AmMatcher(label, ".+" if arg else "", is_regex=arg, is_equal=equal))
            else:
                notes.append(f"{label} {op} {arg}")
        return out
    notes.append(f"{label}: {json.dumps(spec, default=str)}")
    return []


def from_silence_matchers(matchers: Mapping[str, Any]) -> tuple[list[AmMatcher], list[str]]:
    """Alertmanager matchers for one of our silences, and the conditions they cannot express."""
    out: list[AmMatcher] = []
    notes: list[str] = []
    for fld, spec in matchers.items():
        out += _conds(label_of(fld), spec, True, notes)
    return out, notes
