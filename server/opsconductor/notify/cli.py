"""``opsconductor notify check [FILE]``: validate a notify file offline (no server needed).

Its own module so that registering the command does not import the notify stage (every
``opsconductor`` command registers every parser)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def cmd_check(args: argparse.Namespace) -> int:
    from opsconductor.notify.config import check_file

    errors = check_file(Path(args.file))
    for e in errors:
        print(str(e), file=sys.stderr)
    if not errors:
        print(f"{args.file}: ok")
    return 1 if errors else 0


def register(sub: Any) -> None:
    """``opsconductor notify check [FILE]``."""
    p = sub.add_parser("notify", help="notification routing")
    nsub = p.add_subparsers(dest="notify_command", metavar="SUBCOMMAND", required=True)
    c = nsub.add_parser("check", help="validate a notify file (routes and receivers)")
    c.add_argument("file", nargs="?", default="rules/notify.yaml")
    c.set_defaults(func=cmd_check)
