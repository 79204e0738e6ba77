"""``opsconductor``: serve, db, keys, events, alerts (and the stages' own subcommands)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError
from pydantic_settings import SettingsError

from opsconductor.errors import ConfigError, OpsConductorError

Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    from opsconductor.cli import client_cmds, server_cmds

    parser = argparse.ArgumentParser(prog="opsconductor", description="Alert correlation for network operations")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    server_cmds.register(sub)
    client_cmds.register(sub)
    from opsconductor.cli.stages import register_cli

    register_cli(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # "setup plugin ..." on every import
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = args.func
    try:
        return func(args)
    except (ValidationError, SettingsError) as exc:
        from opsconductor.config.settings_errors import describe, is_settings_error

        if not is_settings_error(exc):
            raise
        print(describe(exc, os.environ), file=sys.stderr)  # one line per bad setting, no traceback
        return 2
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except OpsConductorError as exc:
        print(f"opsconductor: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
