"""``opsconductor rules check|test|explain`` — offline tools for rule authors (no server needed)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

# Each command imports what it runs: every `opsconductor` command registers these parsers, and
# the loader, compiler and test runner are a good part of a second to import.


def _paths(args: argparse.Namespace) -> list[Path]:
    from opsconductor.config.settings import Settings

    return [Path(p) for p in args.paths] if args.paths else [Settings().rules_dir]


def cmd_check(args: argparse.Namespace) -> int:
    from opsconductor.correlate.lint import lint_ruleset
    from opsconductor.correlate.loader import load_ruleset

    rs, errors = load_ruleset(_paths(args), check_notify=True)
    for e in errors:
        print(str(e), file=sys.stderr)
    if errors:
        print(f"{len(errors)} error(s)", file=sys.stderr)
        return 1
    warnings = lint_ruleset(rs)
    for w in warnings:
        print(w, file=sys.stderr)
    if warnings:
        print(f"{len(warnings)} warning(s)", file=sys.stderr)
    print(f"ok: {len(rs.rules)} rules, {len(rs.tests)} tests in {len(rs.files)} files (version {rs.version})")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from opsconductor.correlate.loader import load_ruleset
    from opsconductor.correlate.service import compile_ruleset
    from opsconductor.correlate.testing import RuleTestRunner

    rs, errors = load_ruleset(_paths(args))
    for e in errors:
        print(str(e), file=sys.stderr)
    if errors:
        return 1
    compiled = compile_ruleset(rs)
    results = asyncio.run(RuleTestRunner(compiled).run(list(rs.tests)))
    failed = [r for r in results if not r.ok]
    for r in results:
        if not r.ok or args.verbose:
            print(r.report(), file=sys.stderr if not r.ok else sys.stdout)
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def cmd_explain(args: argparse.Namespace) -> int:
    from opsconductor.correlate.explain import explain_offline

    text = sys.stdin.read() if args.event == "-" else Path(args.event).read_text(encoding="utf-8")
    data: Any = json.loads(text)
    out = asyncio.run(explain_offline(_paths(args), data))
    print(json.dumps(out, indent=2))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from opsconductor.correlate.replay_cli import run_replay

    return asyncio.run(run_replay(args))


def register(sub: Any) -> None:
    p = sub.add_parser("rules", help="check, test and explain correlation rules")
    rsub = p.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    c = rsub.add_parser("check", help="schema and semantic checks; errors as file:line:col: message")
    c.add_argument("paths", nargs="*", help="rule files or folders (default: the rules_dir setting)")
    c.set_defaults(func=cmd_check)
    t = rsub.add_parser("test", help="run the tests: shipped in rule files")
    t.add_argument("paths", nargs="*")
    t.add_argument("-v", "--verbose", action="store_true", help="also list passing tests")
    t.set_defaults(func=cmd_test)
    e = rsub.add_parser("explain", help="which rules match an event (JSON file or -) and what would happen")
    e.add_argument("event")
    e.add_argument("--rules", dest="paths", action="append", help="rule file or folder (repeatable)")
    e.set_defaults(func=cmd_explain)
    r = rsub.add_parser("replay", help="replay the stored event log through new rules and show what would change "
                                       "(exit 0: nothing, 1: something)")
    r.add_argument("--rules", required=True, action="append", help="the new rule folder or file (repeatable)")
    r.add_argument("--base", action="append", help="the rules to compare with (default: the rules_dir setting)")
    r.add_argument("--since", default="7d", help="replay events received in this last period (default 7d)")
    r.add_argument("--limit", type=int, default=None, help="replay at most this many events")
    r.add_argument("--resolution", default="5s", help="events within this much log time are decided together "
                                                      "(default 5s; larger is faster and coarser)")
    r.add_argument("--json", action="store_true", help="print the diff as JSON")
    r.set_defaults(func=cmd_replay)
