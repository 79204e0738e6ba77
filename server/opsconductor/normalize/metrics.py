"""Device metrics: counters -> per-second rates, and fields computed from a record.

``fields:`` entries may say ``rate: counter32 | counter64`` (an SNMP Counter: the field becomes
its increase per second since the last poll) and ``compute: "{{ template }}"`` (a new numeric
field from the row, after rates: utilisation from octets and speed). Both run before the value
maps and before the event rules, so ``when: threshold`` sees rates and percentages.

Counters (RFC 2578 §7.1.6 and §7.1.10): a Counter32 that went down wrapped at 2^32 when it was
in the upper half of its range, otherwise the agent restarted (or the counter was reset); a
Counter64 that went down was reset (it does not wrap in a device's lifetime). A reset, the first
sample and a sample taken within 0.1 s of the last give no rate (the field is None: no event).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError

from opsconductor.normalize.records import ORIGINAL, FieldTransform, Record
from opsconductor.normalize.units import to_number

log = logging.getLogger(__name__)

RATE_KINDS = ("counter32", "counter64")
_WRAP = {"counter32": 2**32, "counter64": 2**64}


@dataclass(frozen=True)
class Sample:
    value: float
    at: float  # seconds (monotonic or epoch: only differences count)


def counter_rate(prev: Sample | None, value: Any, at: float, kind: str) -> float | None:
    """Per-second increase of a counter since ``prev``; None on first sight, reset or no time."""
    if prev is None or value is None:
        return None
    try:
        new = to_number(value)
    except (TypeError, ValueError):
        return None
    elapsed = at - prev.at
    if elapsed < 0.1:
        return None
    delta = new - prev.value
    if delta < 0:
        wrap = _WRAP[kind]
        if kind == "counter32" and prev.value >= wrap / 2:
            delta += wrap  # wrapped past 2^32 - 1
        else:
            return None  # the agent restarted or the counter was reset
    return delta / elapsed


def apply_metrics(records: Sequence[Record], fields: Mapping[str, FieldTransform], state: dict[str, Any],
                  at: float, key: str | None = None) -> list[Record]:
    """Rates and computed fields for this poll's records; ``state`` keeps each counter's last sample.

    A row is identified by its ``key`` field (an SNMP table's index), else by its position.
    """
    rates = {n: f for n, f in fields.items() if f.rate}
    computed = {n: f for n, f in fields.items() if f.compute is not None}
    if not rates and not computed:
        return list(records)
    out = []
    for i, r in enumerate(records):
        row = dict(r)
        row_key = row.get(key, i) if key else i
        for name, f in rates.items():
            skey = f"rate:{name}:{row_key}"
            raw = row.get(name)
            row[name] = counter_rate(state.get(skey), raw, at, str(f.rate))
            try:
                state[skey] = Sample(to_number(raw), at) if raw is not None else None
            except (TypeError, ValueError):
                state[skey] = None
        for name, f in computed.items():
            row[name] = _compute(f, row)
        out.append(row)
    return out


def _compute(f: FieldTransform, row: Record) -> float | None:
    assert f.compute is not None
    ctx = {k: v for k, v in row.items() if k != ORIGINAL}
    try:
        text = f.compute.render({**ctx, "row": ctx})
    except (TemplateError, TypeError, ValueError, ZeroDivisionError) as exc:
        log.debug("computed field not computed: %s", exc)
        return None
    if text in ("", "None", "none"):
        return None
    try:
        return to_number(text)
    except ValueError:
        return None
