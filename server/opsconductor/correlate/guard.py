"""Reload guards: a rules file that was emptied or truncated is not a request to drop its rules.

A file rewritten non-atomically (truncate, then write) is empty for a moment; a reload in that
moment would run without the file's rules. So a file that had rules and now has no ``rules:``
key at all (empty, comments only, cut before the key) is refused; an explicit ``rules: []``
removes them on purpose, and deleting the file does too. ``settled`` waits until the files
have stopped changing before a watch-triggered reload reads them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from opsconductor.config.yaml_source import load_yaml
from opsconductor.correlate.loader import rule_paths
from opsconductor.correlate.rules import RuleSet
from opsconductor.errors import ConfigError, Location


def truncation_errors(live: RuleSet, new: RuleSet, rules_dir: Path | None = None) -> list[ConfigError]:
    """Files whose rules would all disappear although the file does not say ``rules:``; or the
    whole rules folder, gone while rules run (a missing folder is refused at start-up too)."""
    had = {f.path: len(f.rules) for f in live.files if f.rules}
    errors: list[ConfigError] = []
    if rules_dir is not None and had and not rules_dir.is_dir():
        return [ConfigError(f"rules directory not found: it would remove all {sum(had.values())} running rules; "
                            "refused (keep the folder, even empty)", Location(str(rules_dir)))]
    for f in new.files:
        if f.rules or not had.get(f.path):
            continue
        try:
            data = load_yaml(Path(f.path)).data
        except (OSError, ConfigError):
            data = None
        if isinstance(data, dict) and "rules" in data:
            continue  # an explicit `rules: []`
        errors.append(ConfigError(
            f"file is empty or truncated: it would remove all {had[f.path]} rules it had; refused "
            "(write `rules: []` to remove them on purpose, or delete the file)", Location(f.path, 1, 1)))
    return errors


def stamp(directory: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for p in rule_paths([directory]) if directory.is_dir() else []:
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((str(p), st.st_mtime_ns, st.st_size))
    return tuple(out)


async def settled(directory: Path, quiet_s: float) -> None:
    """Return once no rule file under ``directory`` has changed for ``quiet_s`` seconds."""
    last = stamp(directory)
    while True:
        await asyncio.sleep(quiet_s)
        now = stamp(directory)
        if now == last:
            return
        last = now
