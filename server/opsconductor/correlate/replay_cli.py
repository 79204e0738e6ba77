"""``opsconductor rules replay``: the event log of the configured database, replayed through the
base and the new rules in isolation (nothing written there, nothing notified), then the diff."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from opsconductor.config.settings import Settings
from opsconductor.correlate.loader import load_ruleset
from opsconductor.correlate.replay import read_log, render_text, replay_diff
from opsconductor.correlate.rules import parse_duration
from opsconductor.correlate.service import compile_ruleset
from opsconductor.correlate.topology import graph_of
from opsconductor.errors import OpsConductorError
from opsconductor.store.db import Database


def notify_file_in(paths: list[Path], fallback: Path) -> Path | None:
    """The notify.yaml that routes for a rule set: its own, else the server's; None if there is
    none or the one found does not load."""
    from opsconductor.notify.config import load_config

    for p in [*(q / "notify.yaml" for q in paths if q.is_dir()), fallback]:
        if p.is_file():
            try:
                load_config(p)
            except OpsConductorError:
                return None
            return p
    return None


async def run_replay(args: argparse.Namespace) -> int:
    settings = Settings()
    new_paths = [Path(p) for p in args.rules]
    base_paths = [Path(p) for p in args.base] if args.base else [settings.rules_dir]
    since_s = parse_duration(args.since)
    resolution = parse_duration(getattr(args, "resolution", "5s"))
    if since_s is None or resolution is None:
        print(f"--since {args.since!r} / --resolution: use durations such as 5s, 90m, 12h, 7d", file=sys.stderr)
        return 2
    sets = []
    for what, paths in (("base", base_paths), ("new", new_paths)):
        rs, errors = load_ruleset(paths)
        for e in errors:
            print(f"{what} rules: {e}", file=sys.stderr)
        if errors:
            return 2
        sets.append(compile_ruleset(rs))
    from opsconductor.sources.inventory import load_inventory
    from opsconductor.sources.target_store import list_targets

    db = Database(settings.effective_database_url)
    try:
        async with db.read() as conn:
            log = await read_log(conn, datetime.now(UTC) - timedelta(seconds=since_s), args.limit)
            stored = await list_targets(conn)
    except OpsConductorError as exc:
        print(f"cannot read the event log: {exc}", file=sys.stderr)
        return 2
    finally:
        await db.dispose()
    inventory = load_inventory(settings.inventory_file)
    names = {t.name for t in inventory}
    targets = {t.name: t for t in [*inventory, *(t for t in stored if t.name not in names)]}
    graph = graph_of(targets.values())
    report = await replay_diff(sets[0], sets[1], log, graph=lambda: graph, inventory=lambda: targets,
                               resolution_s=resolution,
                               base_notify=notify_file_in(base_paths, settings.effective_notify_file),
                               new_notify=notify_file_in(new_paths, settings.effective_notify_file))
    print(json.dumps(report, indent=2, default=str) if args.json else render_text(report))
    return 1 if report["changed"] else 0
