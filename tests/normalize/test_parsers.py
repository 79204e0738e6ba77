"""The core parser library: regex, column-aligned table, key-value, JSON path, maps, units."""

from __future__ import annotations

import re

import pytest

from opsconductor.model.event import Severity
from opsconductor.normalize.parsers import (
    ParseError,
    build_parser,
    parse_json,
    parse_keyvalue,
    parse_regex,
    parse_table,
)
from opsconductor.normalize.units import build_threshold, parse_quantity, timeticks_to_seconds
from opsconductor.normalize.valuemaps import BUILTIN_MAPS, apply_map, normalize_map

TABLE = """
Port   Admin  Oper   Speed    Description
-----  -----  -----  -------  ----------------------
1/1    up     up     10G      uplink to core1
1/2    up     down   1G       customer ACME site 2
1/10   down   down   auto
"""


def test_table_columns_follow_the_header_positions() -> None:
    rows = parse_table(TABLE)
    assert rows == [
        {"port": "1/1", "admin": "up", "oper": "up", "speed": "10G", "description": "uplink to core1"},
        {"port": "1/2", "admin": "up", "oper": "down", "speed": "1G", "description": "customer ACME site 2"},
        {"port": "1/10", "admin": "down", "oper": "down", "speed": "auto", "description": ""},
    ]


def test_table_header_regex_skip_and_renamed_columns() -> None:
    text = "banner line\n" + TABLE + "Total: 3\n"
    rows = parse_table(text, header=re.compile(r"^Port\s+Admin"), skip=re.compile(r"^Total"),
                       columns=["port", "admin", "oper", "speed", "descr"])
    assert [r["port"] for r in rows] == ["1/1", "1/2", "1/10"]
    with pytest.raises(ParseError, match="header has 5 columns"):
        parse_table(TABLE, columns=["a"])
    with pytest.raises(ParseError, match="no header line"):
        parse_table(TABLE, header=re.compile("nothing like this"))


def test_regex_named_groups_one_record_per_match() -> None:
    out = "| 1 | MAJOR | Link Down |\n| 2 | MINOR | Fan |\n"
    pat = re.compile(r"^\|\s*(?P<idx>\d+)\s*\|\s*(?P<sev>\w+)\s*\|\s*(?P<cond>[^|]+?)\s*\|$", re.M)
    assert parse_regex(out, pat) == [{"idx": "1", "sev": "MAJOR", "cond": "Link Down"},
                                     {"idx": "2", "sev": "MINOR", "cond": "Fan"}]
    with pytest.raises(ParseError, match="named groups"):
        build_parser({"type": "regex", "pattern": r"\d+"})


def test_keyvalue_blocks() -> None:
    assert parse_keyvalue("Alarm 1\n Severity: major\nAlarm 2\n Severity: minor\n",
                          block=re.compile(r"^Alarm")) == [{"severity": "major"}, {"severity": "minor"}]
    assert parse_keyvalue("a=1\nb = two\n", separator="=") == [{"a": "1", "b": "two"}]


def test_json_path_selects_a_list_of_objects() -> None:
    p = build_parser({"type": "json", "path": "data[?attributes.state=='ACTIVE']"})
    body = '{"data": [{"attributes": {"state": "ACTIVE"}}, {"attributes": {"state": "CLEARED"}}]}'
    assert p.run(body) == [{"attributes": {"state": "ACTIVE"}}]
    assert parse_json({"x": {"a": 1}}, None) == [{"x": {"a": 1}}]
    with pytest.raises(ParseError, match="not a list of objects"):
        build_parser({"type": "json", "path": "count"}).run('{"count": 3}')
    with pytest.raises(ParseError, match="not JSON"):
        p.run("<html>")
    with pytest.raises(ParseError, match="invalid JMESPath"):
        build_parser({"type": "json", "path": "data[?"})
    with pytest.raises(ParseError, match="unknown parser type"):
        build_parser({"type": "xml"})


def test_value_maps_accept_numbers_and_numeric_strings() -> None:
    m = BUILTIN_MAPS["if_oper_status"]
    assert [apply_map(m, v) for v in (1, "2", 7, 99)] == ["up", "down", "lowerLayerDown", 99]
    assert apply_map(m, 99, "unknown") == "unknown"
    inline = normalize_map({"1": "ok", "MAJOR": "major"})
    assert apply_map(inline, 1) == "ok" and apply_map(inline, "major") == "major"


def test_units_and_thresholds() -> None:
    assert parse_quantity("1.5 GB") == 1.5e9
    assert parse_quantity("2 KiB") == 2048
    assert parse_quantity("10Mbps") == 1e7
    assert parse_quantity("87 %") == 87.0
    assert timeticks_to_seconds(12345) == 123.45
    with pytest.raises(ValueError):
        parse_quantity("lots")
    t = build_threshold({"above": {"warning": 75, "major": 90}})
    assert [t.evaluate(v) for v in (10, 75, 89.9, 95, "91")] == [
        Severity.clear, Severity.warning, Severity.warning, Severity.major, Severity.major]
    low = build_threshold({"below": {"critical": 5}})
    assert low.evaluate(3) == Severity.critical and low.evaluate(50) == Severity.clear
    with pytest.raises(ValueError, match="cannot be 'clear'"):
        build_threshold({"above": {"clear": 1}})
    with pytest.raises(ValueError, match="unknown severity"):
        build_threshold({"above": {"huge": 1}})
