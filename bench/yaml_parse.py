"""Benchmark of YAML parsing for config files: libyaml fast path vs the pure round-trip reference.

    .venv/bin/python bench/yaml_parse.py [--rules 1000] [--rounds 5]

Parses the rule file bench/rules.py generates for a reload (--rules rules of mixed kinds) with
parse_yaml (fast path, fallback to the reference) and parse_yaml_reference (pure ruamel.yaml
round-trip, what every reload used before); best of --rounds each. Checks both give the same
data and positions, then prints ONE line of figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rules import rules_yaml

from opsconductor.config.yaml_source import YamlDocument, parse_yaml, parse_yaml_fast, parse_yaml_reference


def best_ms(parse: object, text: str, rounds: int) -> tuple[float, YamlDocument]:
    times = []
    doc = None
    for _ in range(rounds):
        t0 = time.perf_counter()
        doc = parse(text, "bench.yaml")  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    assert isinstance(doc, YamlDocument)
    return min(times) * 1000, doc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rules", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    text = rules_yaml(args.rules)
    if parse_yaml_fast(text, "bench.yaml") is None:
        raise SystemExit("the fast path declined the benchmark file (is ruamel.yaml.clib installed?)")
    fast_ms, fast = best_ms(parse_yaml, text, args.rounds)
    ref_ms, ref = best_ms(parse_yaml_reference, text, max(1, args.rounds // 2))
    same = fast.data == ref.data and list(fast.positions._map.items()) == list(ref.positions._map.items())
    if not same:
        raise SystemExit("fast and reference results differ")
    print(
        f"yaml_parse: {args.rules} rules ({len(text) / 1024:.0f} KiB, {len(fast.positions._map)} positions): "
        f"fast {fast_ms:.1f} ms, reference {ref_ms:.1f} ms, speed-up x{ref_ms / fast_ms:.1f} (identical results)"
    )


if __name__ == "__main__":
    main()
