"""Small pure helpers shared by the translators of pushed payloads (webhooks, alerts, traps).

Foreign payloads carry timestamps, label sets and blobs in shapes our event model is
strict about; these helpers bend them into range (clip, drop, parse) instead of
refusing a whole delivery for a cosmetic detail such as an over-long label value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from opsconductor.model.event import RAW_MAX_BYTES, Severity

LABEL_KEY_MAX = 128
LABEL_VALUE_MAX = 1024
SUMMARY_MAX = 4096
NAME_MAX = 255

SEVERITY_WORDS: dict[str, Severity] = {
    # Common severity vocabularies (syslog, Prometheus conventions, ITSM tools) -> ours.
    "emergency": Severity.critical,
    "emerg": Severity.critical,
    "alert": Severity.critical,
    "critical": Severity.critical,
    "crit": Severity.critical,
    "fatal": Severity.critical,
    "page": Severity.critical,
    "disaster": Severity.critical,
    "p1": Severity.critical,
    "major": Severity.major,
    "error": Severity.major,
    "err": Severity.major,
    "high": Severity.major,
    "p2": Severity.major,
    "minor": Severity.minor,
    "average": Severity.minor,
    "medium": Severity.minor,
    "p3": Severity.minor,
    "warning": Severity.warning,
    "warn": Severity.warning,
    "low": Severity.warning,
    "p4": Severity.warning,
    "info": Severity.info,
    "informational": Severity.info,
    "information": Severity.info,
    "notice": Severity.info,
    "debug": Severity.info,
    "none": Severity.info,
    "ok": Severity.clear,
    "clear": Severity.clear,
    "cleared": Severity.clear,
    "resolved": Severity.clear,
    "normal": Severity.clear,
}
"""Default value map for a source's own severity word (lower-cased before lookup)."""


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp -> aware UTC datetime; empty or Go's zero time -> None.

    Go marshals an unset time.Time as ``0001-01-01T00:00:00Z`` (Alertmanager, Grafana),
    which means "not set", not the year 1. Raises ValueError for anything else unparsable.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 timestamp string, got {type(value).__name__}")
    text = value.strip()
    if text.startswith("0001-01-01"):
        return None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Go may send nanoseconds; fromisoformat wants at most microseconds on 3.11.
    head, dot, frac = text.partition(".")
    if dot:
        digits = len(frac) - len(frac.lstrip("0123456789"))
        frac = frac[:digits][:6] + frac[digits:]
        text = f"{head}.{frac}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a timezone offset: {value!r}")
    return parsed.astimezone(UTC)


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def as_text(value: Any) -> str:
    """A JSON scalar as label/summary text; containers as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), default=str, sort_keys=True)


def clean_labels(labels: Mapping[Any, Any]) -> dict[str, str]:
    """Labels fit for the event model: text keys 1..128 chars, values clipped to 1024; empties dropped."""
    out: dict[str, str] = {}
    for key, value in labels.items():
        k = (key if isinstance(key, str) else as_text(key)).strip()
        v = (value if isinstance(value, str) else as_text(value)).strip()
        if not k or not v:
            continue
        out[k[:LABEL_KEY_MAX]] = clip(v, LABEL_VALUE_MAX)
    return out


def raw_or_none(item: Any) -> Any:
    """``item`` if it fits the event's raw size limit, else None (never refuse an event for it)."""
    try:
        size = len(json.dumps(item, default=str))
    except (TypeError, ValueError):
        return None
    return item if size <= RAW_MAX_BYTES else None


def map_severity(word: str | None, table: Mapping[str, Severity]) -> Severity | None:
    """A source's severity word through a (lower-cased) value map; unknown or empty -> None."""
    if not word:
        return None
    return table.get(word.strip().lower())
