"""The libyaml fast path of yaml_source must give exactly what the pure round-trip parse gives.

Differential: every YAML file of the repository, every ```yaml block of the docs, generated
documents (dumped data, and raw token soup that is often invalid) go through both paths; the
data (with types), the positions (with their order) and the errors must be the same.
"""

from __future__ import annotations

import math
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from opsconductor.config import yaml_source
from opsconductor.config.yaml_source import (
    MAX_CONFIG_BYTES,
    YamlDocument,
    load_yaml,
    parse_yaml,
    parse_yaml_fast,
    parse_yaml_reference,
)
from opsconductor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".venv", ".git", "node_modules", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis"}


def _same_value(a: Any, b: Any, where: str = "") -> None:
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert [(type(k), k) for k in a] == [(type(k), k) for k in b], where
        for k in a:
            _same_value(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same_value(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    elif isinstance(a, (str, int, float, bool, type(None), date)):
        assert a == b, where
        assert repr(a) == repr(b), where
    else:  # e.g. ruamel's TaggedScalar (explicit tags), which has no __eq__
        assert repr(a) == repr(b), where


def _positions(doc: YamlDocument) -> list[tuple[Any, Any]]:
    return [(p, doc.positions.at(p)) for p in doc.positions.paths()]


def _assert_same(fast: YamlDocument, ref: YamlDocument) -> None:
    _same_value(fast.data, ref.data)
    assert _positions(fast) == _positions(ref)


def _outcome(parse: Any, text: str) -> YamlDocument | str:
    try:
        doc: YamlDocument = parse(text, "f.yaml")
    except Exception as exc:  # the reference may fail with more than ConfigError; compare whatever it is
        return f"{type(exc).__name__}: {exc}"
    return doc


def _check(text: str, *, must_be_fast: bool = False) -> YamlDocument | None:
    """Both paths agree; returns the fast result (None when it declined)."""
    ref = _outcome(parse_yaml_reference, text)
    fast = parse_yaml_fast(text, "f.yaml")
    if isinstance(ref, str):
        assert fast is None, f"fast path accepted what the reference refuses: {ref}"
        assert _outcome(parse_yaml, text) == ref  # the public entry point reports the reference's error
        return None
    if must_be_fast:
        assert fast is not None, "fast path declined a document it should handle"
    if fast is not None:
        _assert_same(fast, ref)
    public = parse_yaml(text, "f.yaml")
    _assert_same(public, ref)
    return fast


def test_the_c_parser_is_installed() -> None:
    # Without ruamel.yaml.clib everything here would only test the reference against itself.
    assert yaml_source.CParser is not None, "pip install ruamel.yaml.clib (a dependency in pyproject.toml)"


def _repo_yaml_files() -> list[Path]:
    out = []
    for path in sorted(ROOT.rglob("*")):
        if path.suffix in (".yaml", ".yml") and path.is_file() and not SKIP_DIRS & set(path.relative_to(ROOT).parts):
            out.append(path)
    return out


def _docs_yaml_blocks() -> list[tuple[str, str]]:
    out = []
    for md in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        if md.is_file():
            for i, block in enumerate(re.findall(r"```ya?ml\n(.*?)```", md.read_text(encoding="utf-8"), re.S)):
                out.append((f"{md.name}#{i}", block))
    return out


REPO_FILES = _repo_yaml_files()
DOC_BLOCKS = _docs_yaml_blocks()


def test_the_repository_has_yaml_to_compare() -> None:
    assert len(REPO_FILES) >= 40
    assert len(DOC_BLOCKS) >= 10


@pytest.mark.parametrize("path", REPO_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_repo_file_parses_the_same(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    _check(text, must_be_fast=not yaml_source._left_to_reference(text))


@pytest.mark.parametrize(("name", "text"), DOC_BLOCKS, ids=[n for n, _ in DOC_BLOCKS])
def test_docs_example_parses_the_same(name: str, text: str) -> None:
    _check(text, must_be_fast=not yaml_source._left_to_reference(text))


# Scalars chosen to hit every resolver branch of YAML 1.2 as the round-trip loader reads it.
TRICKY = [
    "yes", "no", "on", "off", "y", "n", "true", "True", "FALSE", "null", "Null", "~", "", "0", "-0", "+1",
    "012", "0o17", "0x1F", "0xff", "0b101", "1_000", "1__0", "-_", "0x_", "1.5", "1.", ".5", "-.5", "1e3",
    "1E-3", "6.02e+23", ".inf", "-.Inf", ".NaN", "2024-01-02", "2024-01-02T10:00:00Z",
    "2001-12-14 21:59:43.10 -5", "2001-12-14t21:59:43.10-05:00", "12:30:00", "<<", "=", "a b", "x#y",
    "http://h/a?b=1&c=2", "'q'", '"dq"', "-", "? x", "a: b", "&x", "*x", "!t", "%p", "@", "`", "é", "日本",
    "line\nbreak", " lead", "trail ", "#", "[1]", "{a: 1}",
]


def _data(max_leaves: int = 30) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.sampled_from(TRICKY),
        st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=12),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False),
        st.booleans(),
        st.none(),
    )
    keys = st.one_of(st.sampled_from(TRICKY), st.text(min_size=0, max_size=8))
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(keys, inner, max_size=5)),
        max_leaves=max_leaves,
    )


def _dump(data: Any, flow: bool | None, indent: tuple[int, int, int], start: bool, crlf: bool) -> str:
    import io

    y = YAML(typ="rt", pure=True)
    y.default_flow_style = flow
    y.indent(mapping=indent[0], sequence=indent[1], offset=indent[2])
    y.explicit_start = start
    y.width = 40  # folds long strings over lines
    buf = io.StringIO()
    y.dump(data, buf)
    text = buf.getvalue()
    return text.replace("\n", "\r\n") if crlf else text


@pytest.mark.fuzz
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=_data(),
    flow=st.sampled_from([None, True, False]),
    indent=st.sampled_from([(2, 2, 0), (2, 4, 2), (4, 4, 2), (3, 5, 2)]),
    start=st.booleans(),
    crlf=st.booleans(),
)
def test_dumped_documents_parse_the_same(data: Any, flow: bool | None, indent: tuple[int, int, int],
                                         start: bool, crlf: bool) -> None:
    text = _dump(data, flow, indent, start, crlf)
    # libyaml 0.1 refuses ':' inside plain scalars of flow collections ([http://x]); such
    # documents rightly go to the reference. Block style must always stay on the fast path.
    _check(text, must_be_fast=flow is False and not yaml_source._left_to_reference(text))


# Raw token soup: unquoted tricky scalars, anchors, aliases, merges, flow and block styles,
# comments and odd spacing. Much of it is invalid YAML, which is the point: errors must agree.
TOKENS = [
    "a", "b", "c", "key", "- ", "-", ": ", ":", "? ", "[", "]", "{", "}", ", ", ",", "&x ", "*x", "&y ", "*y",
    "<<: *x", "<<: [*x, *y]", "<<: ", "# c", "'s'", '"d"', '"e\\n"', "|", "|-", ">", ">+", "! ", "!!str ",
    "---", "...", " ", "  ", "    ", "\n", "\n", "\n", "\r\n", "\ufeff", "\t", "%YAML 1.1",
    "a:b", "a #b", "::", "-1", "'it''s'", '"\\u00e9"', "\\", "@a", "%", "x: y: z", "? [a, b]", ": v",
    "&a:", "*x:", "&x-y_1 ", "*x-y_1", "&é ", "*x,", "&x.y ",
]


@st.composite
def _soup(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        indent = " " * draw(st.sampled_from([0, 0, 2, 2, 4, 6]))
        parts = draw(st.lists(st.one_of(st.sampled_from(TOKENS), st.sampled_from(TRICKY)), min_size=1, max_size=6))
        lines.append(indent + "".join(parts))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"]))


@pytest.mark.fuzz
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_soup())
def test_token_soup_parses_or_fails_the_same(text: str) -> None:
    _check(text)


_PLAIN_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(" :#-?,[]{}'\"|>@`!&*%\\.0123456789aeZ\r\n")),
        st.characters(blacklist_categories=["Cs"], blacklist_characters="\t\x85\u2028\u2029\ufeff"),
    ),
    max_size=10,
)


@st.composite
def _unquoted(draw: st.DrawFn) -> str:
    # Block structure with arbitrary text written unquoted where keys and values go.
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        indent = " " * draw(st.sampled_from([0, 2, 4]))
        form = draw(st.sampled_from(["{k}: {v}", "- {v}", "{k}:", "- {k}: {v}", "{v}"]))
        key = draw(st.one_of(st.sampled_from(["a", "b", "key"]), _PLAIN_TEXT))
        lines.append(indent + form.format(k=key, v=draw(_PLAIN_TEXT)))
    return "\n".join(lines) + "\n"


@pytest.mark.fuzz
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_unquoted())
def test_unquoted_text_parses_or_fails_the_same(text: str) -> None:
    _check(text)


@st.composite
def _anchored(draw: st.DrawFn) -> str:
    # Well-formed documents built around anchors, aliases and merge keys.
    scalars = st.sampled_from(["1", "true", "x", "0x10", "~", "1.5", "'q'", "2024-01-02"])
    base = {k: draw(scalars) for k in draw(st.lists(st.sampled_from("abcd"), min_size=1, max_size=4, unique=True))}
    other = {k: draw(scalars) for k in draw(st.lists(st.sampled_from("cdef"), min_size=1, max_size=4, unique=True))}
    flow = draw(st.booleans())

    def mapping(d: dict[str, str], pad: str) -> str:
        if flow:
            return "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}"
        return "".join(f"\n{pad}{k}: {v}" for k, v in d.items())

    own = {k: draw(scalars) for k in draw(st.lists(st.sampled_from("aceg"), max_size=3, unique=True))}
    merge = draw(st.sampled_from(["*b", "[*b, *o]", "[*o, *b]", "*o"]))
    scalar_anchor = draw(st.sampled_from(["&s true", "&s 12", "&s x", "&s 1.5", "&s ~"]))
    lines = [
        f"base: &b {mapping(base, '  ')}",
        f"other: &o {mapping(other, '  ')}",
        f"one: {scalar_anchor}",
        "again: *s",
        "list: [*s, *b]",
        "merged:",
    ]
    own_items = [f"  {k}: {v}" for k, v in own.items()]
    at = draw(st.integers(0, len(own_items)))
    lines += [*own_items[:at], f"  <<: {merge}", *own_items[at:]]
    lines += ["nested:", "  - <<: *b", "    z: 1", "  - *o"]
    return "\n".join(lines) + "\n"


@pytest.mark.fuzz
@settings(max_examples=200, deadline=None)
@given(text=_anchored())
def test_anchors_aliases_and_merges_parse_the_same(text: str) -> None:
    assert _check(text, must_be_fast=True) is not None


@pytest.mark.parametrize(
    "text",
    [
        "a: &x true\nb: *x\n",  # anchored booleans stay booleans on both paths
        "1: a\n'1': b\n0x10: c\n1.5: d\nfalse: e\n~: f\n2024-01-02: g\n",  # non-string keys
        "=: 1\n",
        "a: ! 12\nb: ! '12'\n",  # the non-specific tag resolves like no tag
        "\ufeffa: &x 1\nb: &y false\n",
        "a: >\n  folded\n  text\n\n  more\nb: |-\n  lit\n",
        "- - - x\n- ? k\n  : v\n",
        '"a😀b": {c: 1, d: [1, 2]}\ne😀: 2\n日本: {é: x}\n',  # columns count characters
        "a:\r\n  b: [1,\r\n    2]\r\n  c: |\r\n    x\r\n",
        'a: "\\/ \\N \\_ \\x41 \\u00e9 \\U0001F600 \\e \\0"\n',
        "a: >\n  a\n    more\n  b\n\n\n  c\nb: |2-\n    x\n   y\nc: >+\n  x\n\n",
        "",
        "# only a comment\n",
        "just a scalar\n",
    ],
)
def test_corner_cases_take_the_fast_path(text: str) -> None:
    assert _check(text, must_be_fast=True) is not None


@pytest.mark.parametrize(
    "text",
    [
        "a: !!int '1'\n",  # explicit tags
        "a:\tb\n",  # the reference refuses this tab, libyaml takes it
        "a: \u2028b: 1\n",  # a line break for libyaml, not for YAML 1.2
        "a: \n  a\n\ufeff",  # a BOM past the start
        "&x2024-01-02T10:00:00Z\n",  # anchor names: the reference takes more characters than libyaml
        "a: &a: 1\n",
        "|\n# not a comment for libyaml\n",  # top-level block scalar
        "%YAML 1.1\n---\na: yes\n",  # YAML 1.1 rules
        "? [a, b]\n: 1\n",  # complex key
        "a: &k 1\n*k : 2\n",  # anchored non-string key
        "a: =\n",
        "a: !\nb: ! \n",  # bare '!' on an empty scalar
        "[" * 2000 + "]" * 2000,  # deeper than MAX_FAST_DEPTH (libyaml's composer recurses in C)
        "a: &r [*r]\n",  # recursive alias
    ],
)
def test_declined_documents_still_get_the_reference_answer(text: str) -> None:
    assert parse_yaml_fast(text, "f.yaml") is None
    _check(text)


# --- errors: same file:line:col and message as the reference ----------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules:\n  - id: x\n    when: {event: [a, b}\n",
         "f.yaml:3:24: while parsing a flow sequence expected ',' or ']', but got '}'"),
        ("a: 1\nb:\n  c: 2\n  c: 3\n",
         'f.yaml:4:3: while constructing a mapping found duplicate key "c" with value "3" (original value: "2")'),
        ("a: b: c\n", "f.yaml:1:5: mapping values are not allowed here"),
        ("a: *nowhere\n", "f.yaml:1:4: found undefined alias 'nowhere'"),
        ("a: 1\n---\nb: 2\n", "f.yaml:2:1: expected a single document in the stream but found another document"),
        ("x: [\n", "f.yaml:2:1: while parsing a flow node expected the node content, but found '<stream end>'"),
        ('a: "unterminated\n', "f.yaml:2:1: while scanning a quoted scalar found unexpected end of stream"),
        ("m:\n  <<: *nope\n", "f.yaml:2:7: found undefined alias 'nope'"),
        ("a: &x {b: 1}\nm:\n  <<: *x\n  <<: *x\n",
         'f.yaml:4:3: while constructing a mapping found duplicate merge key "<<"'),
    ],
)
def test_malformed_yaml_error_position(text: str, message: str) -> None:
    for parse in (parse_yaml, parse_yaml_reference):
        with pytest.raises(ConfigError) as info:
            parse(text, "f.yaml")
        assert str(info.value) == message
    assert parse_yaml_fast(text, "f.yaml") is None


def test_oversized_text_is_refused_before_parsing() -> None:
    text = "a: " + "x" * MAX_CONFIG_BYTES + "\n"
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, "big.yaml")
    assert str(info.value).startswith(f"big.yaml:1:1: file is larger than {MAX_CONFIG_BYTES} bytes")


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * MAX_CONFIG_BYTES + "\n")
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    assert str(info.value).startswith(f"{path}:1:1: file is larger than {MAX_CONFIG_BYTES} bytes (")


def test_load_yaml_uses_the_fast_result(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("rules:\n  - id: a\n    when: {event: x}\n")
    doc = load_yaml(path)
    assert doc.data == {"rules": [{"id": "a", "when": {"event": "x"}}]}
    assert str(doc.positions.at(("rules", 0, "when", "event"))) == f"{path}:3:12"


def test_without_the_c_extension_the_reference_does_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    # What a platform without a ruamel.yaml.clib wheel gets: same answers, the slow way.
    text = "rules:\n  - id: a\n    when: {event: x}\n"
    monkeypatch.setattr(yaml_source, "CParser", None)
    assert parse_yaml_fast(text, "f.yaml") is None
    _assert_same(parse_yaml(text, "f.yaml"), parse_yaml_reference(text, "f.yaml"))


def test_an_anchored_boolean_is_a_boolean() -> None:
    for parse in (parse_yaml, parse_yaml_reference):
        data = parse("enabled: &on true\nalso: *on\noff: &no false\n", "f.yaml").data
        assert data == {"enabled": True, "also": True, "off": False}
        assert all(type(v) is bool for v in data.values())
