"""Find, read, parse and check rule files; compute the ruleset version.

Files are loaded in sorted path order (directories recursively), and rules in
file order: that order is "first wins" for drop, severity, dedup, maintenance and
flap rules. Notify routing config (``rules/notify.yaml``: top-level ``route:`` /
``receivers:``) shares the folder but is not a rule file: it is skipped here and
checked by the notify stage's ``check_file`` when that stage is installed.
"""

from __future__ import annotations

import hashlib
import importlib
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from opsconductor.config.yaml_source import load_yaml
from opsconductor.correlate.checks import check_ruleset
from opsconductor.correlate.parser import is_notify_config, parse_rule_file
from opsconductor.correlate.rules import RuleFile, RuleSet
from opsconductor.errors import ConfigError, Location

SUFFIXES = (".yaml", ".yml")


def rule_paths(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.suffix in SUFFIXES and f.is_file()
                              and not any(part.startswith(".") for part in f.relative_to(p).parts)))
        else:
            out.append(p)
    return out


def git_commit(directory: Path) -> str | None:
    """The last commit that touched the rules folder, when it is in a git checkout (else None)."""
    try:
        res = subprocess.run(["git", "-C", str(directory), "log", "-1", "--format=%h", "--abbrev=10", "--", "."],
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() or None if res.returncode == 0 else None


def _notify_checker() -> Callable[[Path], list[ConfigError]] | None:
    try:
        mod = importlib.import_module("opsconductor.notify.config")
    except ImportError:
        return None
    fn: Any = getattr(mod, "check_file", None)
    return fn if callable(fn) else None


ParseCache = dict[tuple[str, str, int], tuple[RuleFile, list[ConfigError]]]
"""Parsed files by (path, content hash, first rule index): a reload re-parses changed files only."""


def load_ruleset(paths: Sequence[Path], *, check_notify: bool = False,
                 cache: ParseCache | None = None) -> tuple[RuleSet, list[ConfigError]]:
    """Parse every rule file under ``paths``; returns the rule set and all errors found."""
    files: list[RuleFile] = []
    errors: list[ConfigError] = []
    digest = hashlib.sha256()
    index = 0
    for path in rule_paths(paths):
        if not path.exists():
            errors.append(ConfigError("no such file or directory", Location(str(path))))
            continue
        try:
            content = path.read_bytes()
        except OSError as exc:
            errors.append(ConfigError(f"cannot read: {exc.strerror}", Location(str(path))))
            continue
        key = (str(path), hashlib.sha256(content).hexdigest(), index)
        hit = cache.get(key) if cache is not None else None
        if hit is None:
            try:
                doc = load_yaml(path)
            except ConfigError as exc:
                errors.append(exc)
                continue
            if is_notify_config(doc.data):
                checker = _notify_checker() if check_notify else None
                if checker is not None:
                    errors.extend(checker(path))
                continue
            hit = parse_rule_file(doc, index)
            if cache is not None:
                if len(cache) > 10_000:
                    cache.clear()
                cache[key] = hit
        rf, errs = hit
        index += len(rf.rules)
        errors.extend(errs)
        files.append(rf)
        digest.update(path.name.encode() + b"\0" + content + b"\0")
    version = digest.hexdigest()[:12]
    dirs = [p for p in paths if p.is_dir()]
    commit = git_commit(dirs[0]) if dirs else None
    rs = RuleSet(tuple(files), f"{version}@{commit}" if commit else version)
    if not errors:
        errors.extend(check_ruleset(rs))
    return rs, errors
