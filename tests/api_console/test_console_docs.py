"""docs/console.md stays true: its example URL parses cleanly and its key table is what the script handles."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from opsconductor.api.console.views import list_options

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "console.md").read_text()
SCRIPT = (ROOT / "server" / "opsconductor" / "api" / "console" / "static" / "console.js").read_text()


def test_the_documented_list_url_is_understood() -> None:
    url = re.search(r"`(/\?severity=[^`]+)`", DOC).group(1)  # type: ignore[union-attr]
    opts = list_options(parse_qs(urlsplit(url).query))
    assert opts.problems == []
    assert (opts.severity, opts.status, opts.labels, opts.q, opts.sort, opts.group) == (
        ("critical", "major"), ("active",), ("site:ams",), "bgp", "-first_seen", "site")
    assert parse_qs(opts.query()) == parse_qs(urlsplit(url).query)


def test_every_documented_key_is_handled_by_the_script() -> None:
    table = DOC.split("### Keys", 1)[1].split("## ", 1)[0]
    documented = set(re.findall(r"`([a-z/?]|Enter|Esc)`", table))
    handled = set(re.findall(r'case "([^"]+)"', SCRIPT))
    names = {"Esc": "Escape"}
    assert documented and {names.get(k, k) for k in documented} <= handled, documented - handled


def test_the_readme_links_the_console() -> None:
    assert "(docs/console.md)" in (ROOT / "README.md").read_text()


def test_every_console_asset_is_package_data() -> None:
    """The console must work from an installed wheel: templates and static files are package data."""
    import tomllib
    from fnmatch import fnmatch

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "opsconductor"]
    pkg = ROOT / "server" / "opsconductor"
    for sub in ("templates", "static"):
        for f in (pkg / "api" / "console" / sub).rglob("*"):
            rel = f.relative_to(pkg).as_posix()
            assert f.is_file() and any(fnmatch(rel, p) and rel.count("/") == p.count("/") for p in patterns), rel
