"""Server-side commands that talk to the database directly: serve, db upgrade, keys, schema."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsconductor.errors import Conflict, Unavailable

if TYPE_CHECKING:
    from opsconductor.config.settings import Settings

# The server's modules are imported by the commands that use them: `opsconductor --help` and
# the client commands start without loading the database layer.

log = logging.getLogger("opsconductor")
KEEP_ALIVE_S = 120


def _settings(args: argparse.Namespace) -> Settings:
    from opsconductor.config.settings import Settings
    from opsconductor.shipped import with_shipped_defaults

    overrides: dict[str, Any] = {}
    for name in ("host", "port", "workers"):
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    return with_shipped_defaults(Settings(**overrides))


async def _check_database(settings: Settings, *, schema: bool = False) -> None:
    """Unavailable (one line) unless the database answers (and, with ``schema``, is migrated to head)."""
    from sqlalchemy.exc import DBAPIError

    from opsconductor.store.db import Database

    db = Database(settings.effective_database_url)
    quiet = logging.getLogger("alembic")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # the answer is one line: no "Context impl ..." chatter before it
    try:
        from opsconductor.store.migrate import current_revision, head_revision

        await db.ping()
        if schema:
            async with db.read() as conn:
                current = await current_revision(conn)
            head = head_revision(settings.effective_database_url)
            if current != head:
                raise Unavailable(f"its schema is at {current or 'nothing (empty database)'}, this version needs "
                                  f"{head}: run `opsconductor db upgrade` or `opsconductor serve --migrate`")
    except DBAPIError as exc:  # e.g. the database does not exist, authentication failed
        orig = exc.orig if exc.orig is not None else exc
        raise Unavailable(str(orig).splitlines()[0] if str(orig) else type(orig).__name__) from None
    finally:
        quiet.setLevel(level)
        await db.dispose()


async def ensure_admin_key(settings: Settings) -> Path | None:
    """On a fresh install (no keys at all) create the first admin key; return the file holding it."""
    from opsconductor.store.api_keys import Scope, any_key, create_key
    from opsconductor.store.db import Database

    db = Database(settings.effective_database_url)
    preset = settings.admin_key.get_secret_value() if settings.admin_key else None
    try:
        async with db.write() as conn:
            if await any_key(conn):
                return None
            key = await create_key(conn, "admin", Scope.admin, datetime.now(UTC), key=preset)
    except Conflict:
        # Another server (a node starting at the same moment on PostgreSQL) created it between
        # our check and our insert: that one holds the first key, this one starts without.
        return None
    finally:
        await db.dispose()
    if preset:
        return None
    path = settings.data_dir / "admin.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return path


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings(args)
    from opsconductor.preflight import config_errors
    from opsconductor.store.migrate import upgrade_sync

    if errors := config_errors(settings):
        for line in errors:
            print(line, file=sys.stderr)
        print(f"opsconductor: not started: {len(errors)} configuration error(s)", file=sys.stderr)
        return 2
    if not _database_reachable(settings):
        return 2
    if settings.is_sqlite or args.migrate:
        upgrade_sync(settings.effective_database_url)
    elif not _database_reachable(settings, schema=True):
        return 2
    key_file = asyncio.run(ensure_admin_key(settings))
    if key_file:
        log.info("first admin API key written to %s (read it once, then keep it safe)", key_file)
    # The app factory (in each worker) reads its settings from the environment: hand over what the CLI decided.
    # Migrations and the first admin key are done: the workers (N processes, SQLite included) only serve.
    for name, value in (("HOST", settings.host), ("PORT", str(settings.port)), ("RULES_DIR", str(settings.rules_dir)),
                        ("ADDONS_DIR", str(settings.addons_dir)), ("NOTIFY_FILE", str(settings.notify_file)),
                        ("WORKERS", str(settings.workers))):
        if value != "None":  # unset stays unset (notify_file: <rules_dir>/notify.yaml), not the path "None"
            os.environ[f"OPSCONDUCTOR_{name}"] = value
    uvicorn.run(
        "opsconductor.api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=False,
        # Keep idle connections longer than clients keep them pooled (Go's default is 90 s, httpx's 5 s):
        # with uvicorn's 5 s a client sending on a connection the server is closing gets a reset
        # and a POST is not retried.
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    return 0


def _database_reachable(settings: Settings, *, schema: bool = False) -> bool:
    """Say clearly, in one line (password hidden), when the database cannot be used."""
    try:
        asyncio.run(_check_database(settings, schema=schema))
    except Unavailable as exc:
        what = "the database at {} is not ready" if schema else "cannot reach the database at {}"
        print(f"opsconductor: {what.format(_redact(settings.effective_database_url))}: {exc}", file=sys.stderr)
        return False
    return True


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from opsconductor.store.migrate import upgrade_sync

    settings = _settings(args)
    if not _database_reachable(settings):
        return 2
    upgrade_sync(settings.effective_database_url, args.revision)
    print(f"database at {_redact(settings.effective_database_url)} upgraded to {args.revision}")
    return 0


async def _keys(args: argparse.Namespace) -> int:
    from opsconductor.store.api_keys import Scope, create_key, list_keys, revoke_key
    from opsconductor.store.db import Database

    settings = _settings(args)
    db = Database(settings.effective_database_url)
    try:
        now = datetime.now(UTC)
        if args.keys_command == "create":
            async with db.write() as conn:
                key = await create_key(conn, args.name, Scope(args.scope), now)
            print(key)
        elif args.keys_command == "list":
            async with db.read() as conn:
                for k in await list_keys(conn):
                    state = f"revoked {k['revoked_at']:%Y-%m-%d}" if k["revoked_at"] else "active"
                    print(f"{k['name']}\t{k['scope']}\t{k['prefix']}…\t{state}")
        else:
            async with db.write() as conn:
                await revoke_key(conn, args.name, now)
            print(f"revoked {args.name}")
    finally:
        await db.dispose()
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    return asyncio.run(_keys(args))


def cmd_schema_dump(args: argparse.Namespace) -> int:
    from opsconductor.model.event import event_json_schema

    text = json.dumps(event_json_schema(), indent=2, sort_keys=True) + "\n"
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def settings_table() -> str:
    """The Markdown table of every setting, for docs/configuration.md."""
    from opsconductor.config.settings import Settings

    lines = ["| Setting | Environment variable | Default | Meaning |", "| --- | --- | --- | --- |"]
    for name, f in Settings.model_fields.items():
        default = f.get_default(call_default_factory=True)
        shown = "" if default is None else str(default)
        lines.append(f"| `{name}` | `OPSCONDUCTOR_{name.upper()}` | `{shown}` | {f.description or ''} |")
    return "\n".join(lines) + "\n"


def cmd_schema_settings(args: argparse.Namespace) -> int:
    sys.stdout.write(settings_table())
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the server (applies migrations on the embedded SQLite default)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int)
    p.add_argument("--migrate", action="store_true", help="apply migrations first (always on SQLite)")
    p.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="apply Alembic migrations")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)

    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys_command", required=True)
    kc = keys.add_parser("create", help="create a key and print it once")
    kc.add_argument("--name", required=True)
    kc.add_argument("--scope", choices=["read", "write", "admin"], default="read")
    kc.set_defaults(func=cmd_keys)
    keys.add_parser("list", help="list keys (never the keys themselves)").set_defaults(func=cmd_keys)
    kr = keys.add_parser("revoke", help="revoke a key by name")
    kr.add_argument("name")
    kr.set_defaults(func=cmd_keys)

    schema = sub.add_parser("schema", help="JSON Schemas").add_subparsers(dest="schema_command", required=True)
    sd = schema.add_parser("dump", help="print the normalized event's JSON Schema")
    sd.add_argument("-o", "--output")
    sd.set_defaults(func=cmd_schema_dump)
    schema.add_parser("settings", help="print the settings reference (Markdown)").set_defaults(
        func=cmd_schema_settings)
