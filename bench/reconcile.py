"""Reconciliation cost: CPU per poll of the normalize stage with and without re-assertion.

    .venv/bin/python bench/reconcile.py [--rows 48] [--down 4] [--polls 2000]

One target's interface table (``--rows`` rows, ``--down`` of them down) goes through the
shipped generic-snmp ``interfaces`` rules (fields -> events) ``--polls`` times, once as shipped
(the link condition re-asserted every poll, clears checked against 10,000 open alerts) and once
with ``reassert: false`` (change-only, the behaviour before). The network part of a poll is the
same in both, so the difference is what reconciliation adds to every poll. Prints one line per
variant and a RESULT line with the added microseconds per poll and the ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from opsconductor.normalize.metrics import apply_metrics
from opsconductor.normalize.records import Context, evaluate, transform
from opsconductor.sources.kinds import default_registry
from opsconductor.sources.manifest import parse_manifest

ADDON = Path(__file__).resolve().parents[1] / "addons" / "generic-snmp" / "addon.yaml"


def interfaces_spec(reassert: bool) -> Any:
    text = ADDON.read_text()
    if not reassert:
        text = text.replace("        only: {ifAdminStatus: [up]}\n", "        only: {ifAdminStatus: [up]}\n"
                            "        reassert: false\n", 1)
    m = parse_manifest(text, "generic-snmp/addon.yaml", default_registry())
    spec = next(s.spec for s in m.sources if s.name == "interfaces")
    assert spec.common.events[0].reassert is reassert
    return spec


def run(spec: Any, rows: int, down: int, polls: int) -> tuple[float, int]:
    records = [{"ifIndex": i, "ifDescr": f"GigabitEthernet{i}", "ifAdminStatus": 1,
                "ifOperStatus": 2 if i <= down else 1, "ifName": f"ge-0/0/{i}"} for i in range(1, rows + 1)]
    open_keys = frozenset(("other", "link_down", f"ge-{i}") for i in range(10_000))
    ctx = Context({"name": "rtr1", "labels": {"site": "ams", "role": "core"}}, "generic-snmp/interfaces",
                  datetime.now(UTC))
    state: dict[str, Any] = {}
    common = spec.common
    events = 0
    evaluate(common.events, transform(records, common.fields), ctx, state, open_keys)  # first sight
    start = time.process_time()
    for n in range(polls):
        rows_now = apply_metrics(records, common.fields, state, float(n), spec.index)
        events += len(evaluate(common.events, transform(rows_now, common.fields), ctx, state, open_keys))
    return (time.process_time() - start) / polls * 1e6, events


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=48)
    ap.add_argument("--down", type=int, default=4)
    ap.add_argument("--polls", type=int, default=2000)
    args = ap.parse_args()
    results = {}
    for reassert in (False, True, False, True):  # interleaved: load on the machine hits both alike
        us, events = run(interfaces_spec(reassert), args.rows, args.down, args.polls)
        results.setdefault(reassert, []).append((us, events))
    for reassert, label in ((False, "change-only"), (True, "reconciled ")):
        best = min(us for us, _ in results[reassert])
        print(f"{label}  {args.rows} rows, {args.down} down: {best:8.1f} us CPU per poll, "
              f"{results[reassert][0][1] / args.polls:.1f} events per poll")
    base, rec = min(us for us, _ in results[False]), min(us for us, _ in results[True])
    print(f"RESULT reconcile_added_us_per_poll={rec - base:.1f} reconcile_ratio={rec / base:.3f}")


if __name__ == "__main__":
    main()
