"""``opsconductor addons list|check|enable|disable|reload``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opsconductor.config.settings import Settings
from opsconductor.errors import ConfigError, ConfigErrors, Location
from opsconductor.sources.inventory import load_inventory
from opsconductor.sources.kinds import default_registry
from opsconductor.sources.manifest import MANIFEST_FILE, load_addons, load_manifest, parse_manifest


def _errors(exc: ConfigError) -> list[ConfigError]:
    return exc.errors if isinstance(exc, ConfigErrors) else [exc]


def cmd_check(args: argparse.Namespace) -> int:
    """Validate manifests (files or addon dirs; default: the addons dir) and the inventory."""
    settings = Settings()
    registry = default_registry()
    problems: list[ConfigError] = []
    paths = [Path(p) for p in args.paths] or [settings.addons_dir]
    checked = 0
    for p in paths:
        files = [p] if p.is_file() else [p / MANIFEST_FILE] if (p / MANIFEST_FILE).is_file() \
            else sorted(p.glob(f"*/{MANIFEST_FILE}"))
        for f in files:
            checked += 1
            try:
                if f.name == MANIFEST_FILE:
                    load_manifest(f, registry)
                else:  # a loose file (a draft): no directory name to match
                    parse_manifest(f.read_text(encoding="utf-8"), str(f), registry)
            except OSError as exc:
                problems.append(ConfigError(f"cannot read: {exc.strerror}", Location(str(f))))
            except ConfigError as exc:
                problems += _errors(exc)
    if not args.paths and settings.inventory_file is not None:
        try:
            load_inventory(settings.inventory_file)
        except ConfigError as exc:
            problems += _errors(exc)
    for e in problems:
        print(str(e), file=sys.stderr)
    if problems:
        return 1
    print(f"{checked} addon manifest(s) OK")
    return 0


async def _states(settings: Settings) -> dict[str, bool]:
    from opsconductor.sources.target_store import addon_states
    from opsconductor.store.db import Database

    db = Database(settings.effective_database_url)
    try:
        async with db.read() as conn:
            return await addon_states(conn)
    finally:
        await db.dispose()


def cmd_list(args: argparse.Namespace) -> int:
    settings = Settings()
    loaded = load_addons(settings.addons_dir, default_registry())
    try:
        states = asyncio.run(_states(settings))
    except Exception as exc:  # listing works without a database, just without on/off state
        print(f"(addon on/off state unavailable: {exc})", file=sys.stderr)
        states = {}
    for m in sorted(loaded.manifests.values(), key=lambda m: m.name):
        on = "enabled" if states.get(m.name, True) else "disabled"
        kinds = ", ".join(f"{s.name}:{s.kind}" for s in m.sources)
        print(f"{m.name:<20} {m.version:<10} {on:<9} {kinds}")
    for e in loaded.errors:
        print(f"refused: {e}", file=sys.stderr)
    return 1 if loaded.errors else 0


async def _set(settings: Settings, name: str, enabled: bool) -> None:
    from opsconductor.sources.target_store import set_addon_state
    from opsconductor.store.db import Database

    db = Database(settings.effective_database_url)
    try:
        async with db.write() as conn:
            await set_addon_state(conn, name, enabled, datetime.now(UTC))
    finally:
        await db.dispose()


def _toggle(args: argparse.Namespace, enabled: bool) -> int:
    settings = Settings()
    if not (settings.addons_dir / args.name / MANIFEST_FILE).is_file():
        print(f"opsconductor: no addon {args.name!r} in {settings.addons_dir}", file=sys.stderr)
        return 1
    asyncio.run(_set(settings, args.name, enabled))
    print(f"addon {args.name} {'enabled' if enabled else 'disabled'} (running servers pick it up within "
          f"{settings.poller_refresh_s:g}s, or run `opsconductor addons reload`)")
    return 0


def cmd_reload(args: argparse.Namespace) -> int:
    from opsconductor.api_client import client as _client

    with _client(args) as c:
        r = c.post("/api/v1/poller/reload")
    if r.status_code >= 400:
        print(f"opsconductor: {r.status_code}: {r.text}", file=sys.stderr)
        return 2
    body = r.json()
    for e in body["errors"]:
        print(e, file=sys.stderr)
    print(f"reloaded: {len(body['addons'])} addons, {body['targets']} targets, {body['jobs']} jobs")
    return 1 if body["errors"] else 0


def register(sub: Any) -> None:
    from opsconductor.api_client import DEFAULT_URL

    p = sub.add_parser("addons", help="addon manifests: list, check, enable, disable, reload")
    s = p.add_subparsers(dest="addons_command", metavar="ACTION", required=True)
    c = s.add_parser("check", help="validate manifests and the inventory (file:line:col errors)")
    c.add_argument("paths", nargs="*", help="addon.yaml files or addon directories (default: addons_dir)")
    c.set_defaults(func=cmd_check)
    s.add_parser("list", help="addons, their versions, sources and on/off state").set_defaults(func=cmd_list)
    for name, on in (("enable", True), ("disable", False)):
        t = s.add_parser(name, help=f"{name} an addon on every server")
        t.add_argument("name")
        t.set_defaults(func=lambda a, on=on: _toggle(a, on))
    r = s.add_parser("reload", help="ask the running server to re-read addons, inventory and targets")
    import os

    r.add_argument("--url", default=os.environ.get("OPSCONDUCTOR_URL", DEFAULT_URL))
    r.add_argument("--key", help="admin API key (default: $OPSCONDUCTOR_API_KEY, then data/admin.key)")
    r.set_defaults(func=cmd_reload)
