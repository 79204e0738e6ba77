"""Time intervals: every field against fixed clocks (across DST), check refusing empty or
impossible windows at file:line:col, and a maintenance rule test on a DST night."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opsconductor.correlate.intervals import Interval, in_interval, parse_interval
from opsconductor.correlate.loader import load_ruleset
from opsconductor.correlate.service import compile_ruleset
from opsconductor.correlate.testing import RuleTestRunner


def iv(**m: Any) -> Interval:
    errors: list[str] = []
    out = parse_interval(m, (), lambda p, msg: errors.append(msg))
    assert errors == [] and out is not None
    return out


def at(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


CASES = [
    # times: end exclusive, 24:00, several ranges
    (dict(times=[{"start_time": "22:00", "end_time": "24:00"}, {"start_time": "00:00", "end_time": "02:00"}]),
     {"2026-01-05T23:59:00Z": True, "2026-01-06T01:59:00Z": True, "2026-01-06T02:00:00Z": False,
      "2026-01-05T21:59:00Z": False}),
    # weekdays with a range and a single day (2026-01-05 is a Monday)
    (dict(weekdays=["monday:wednesday", "sunday"]),
     {"2026-01-05T12:00:00Z": True, "2026-01-07T12:00:00Z": True, "2026-01-08T12:00:00Z": False,
      "2026-01-11T12:00:00Z": True}),
    # days of month, negative from the end (February 2026 has 28 days; 2028 is a leap year)
    (dict(days_of_month=["-1"]), {"2026-02-28T12:00:00Z": True, "2026-02-27T12:00:00Z": False,
                                  "2028-02-29T12:00:00Z": True, "2026-01-31T12:00:00Z": True}),
    (dict(days_of_month=["1:3", "-3:-2"]), {"2026-04-02T00:00:00Z": True, "2026-04-28T00:00:00Z": True,
                                            "2026-04-30T00:00:00Z": False, "2026-04-04T00:00:00Z": False}),
    # months by name and number, years
    (dict(months=["january:march", "12"]), {"2026-03-31T12:00:00Z": True, "2026-04-01T12:00:00Z": False,
                                            "2026-12-01T00:00:00Z": True}),
    (dict(years=["2026:2027"]), {"2025-12-31T23:59:59Z": False, "2026-01-01T00:00:00Z": True,
                                 "2028-01-01T00:00:00Z": False}),
    # location: the local midnight of Amsterdam, winter (+01:00) and summer (+02:00)
    (dict(times=[{"start_time": "00:00", "end_time": "01:00"}], location="Europe/Amsterdam"),
     {"2026-01-05T23:30:00Z": True, "2026-01-05T00:30:00Z": False, "2026-07-05T22:30:00Z": True,
      "2026-07-05T23:30:00Z": False}),
    # DST: spring forward in Amsterdam on 2026-03-29 (02:00 CET -> 03:00 CEST): 01:00-03:00 lasts one hour
    (dict(times=[{"start_time": "01:00", "end_time": "03:00"}], weekdays=["sunday"], location="Europe/Amsterdam"),
     {"2026-03-28T23:59:00Z": False, "2026-03-29T00:00:00Z": True, "2026-03-29T00:59:00Z": True,
      "2026-03-29T01:00:00Z": False}),
    # DST: fall back on 2026-10-25 (03:00 CEST -> 02:00 CET): 02:00-03:00 local happens twice
    (dict(times=[{"start_time": "02:00", "end_time": "03:00"}], location="Europe/Amsterdam"),
     {"2026-10-25T00:00:00Z": True, "2026-10-25T00:59:00Z": True, "2026-10-25T01:00:00Z": True,
      "2026-10-25T01:59:00Z": True, "2026-10-25T02:00:00Z": False}),
    # one-off
    (dict(start="2026-03-01T22:00:00+01:00", end="2026-03-02T02:00:00+01:00"),
     {"2026-03-01T20:59:59Z": False, "2026-03-01T21:00:00Z": True, "2026-03-02T00:59:59Z": True,
      "2026-03-02T01:00:00Z": False}),
]


@pytest.mark.parametrize("n", range(len(CASES)))
def test_interval_fields_against_fixed_clocks(n: int) -> None:
    spec, clocks = CASES[n]
    interval = iv(**spec)
    assert {t: in_interval(interval, at(t)) for t in clocks} == clocks


BAD = [
    ("schedule: {times: [{start_time: '00:00', end_time: '00:00'}]}", "5:26", "empty time range 00:00-00:00"),
    ("schedule: {times: [{start_time: '24:00', end_time: '24:00'}]}", "5:27", "24:00 only as end_time"),
    ("schedule: {days_of_month: ['30:31'], months: [february]}", "5:18", "never occur in the months given"),
    ("schedule: {days_of_month: ['5:1']}", "5:34", "is reversed"),
    ("schedule: {days_of_month: ['-3:2']}", "5:34", "cannot mix"),
    ("schedule: {weekdays: [funday]}", "5:29", "invalid weekday 'funday'"),
    ("schedule: {months: ['13']}", "5:27", "invalid month '13'"),
    ("schedule: {years: ['2027:2026']}", "5:26", "is reversed"),
    ("schedule: {location: Mars/Olympus}", "5:18", "unknown location 'Mars/Olympus'"),
    ("schedule: {start: '2026-03-02T00:00:00Z', end: '2026-03-01T00:00:00Z'}", "5:49", "end must be after start"),
    ("schedule: {start: '2026-03-02T00:00:00'}", "5:7", "needs both 'start' and 'end'"),
    ("schedule: {days: [mon], from: '00:00', to: '00:00'}", "5:46", "empty window"),
    ("schedule: []", "5:7", "at least one time interval"),
]


@pytest.mark.parametrize("n", range(len(BAD)))
def test_check_refuses_empty_or_impossible_windows(n: int, tmp_path: Path) -> None:
    schedule, where, message = BAD[n]
    f = tmp_path / "w.yaml"
    f.write_text("rules:\n  - id: w\n    maintenance:\n      when: {event: x}\n      " + schedule + "\n")
    _, errors = load_ruleset([f])
    assert len(errors) >= 1, schedule
    assert any(str(e).startswith(f"{f}:{where}:") and message in str(e) for e in errors), [str(e) for e in errors]


RULES = """
rules:
  - id: dst-night-window
    maintenance:
      when: {labels.role: backup}
      schedule:
        - {times: [{start_time: "01:00", end_time: "03:00"}], weekdays: [sunday], months: [march],
           days_of_month: ["-7:-1"], location: Europe/Amsterdam}
        - {start: "2026-06-01T00:00:00Z", end: "2026-06-01T01:00:00Z"}
tests:
  - name: the last Sunday of March, a night made one hour shorter by DST
    start: "2026-03-28T23:30:00Z"
    input:
      - {at: 0s, event: {resource: bak1, event: device_down, severity: critical, labels: {role: backup}}}
    expect:
      - at: 0s
        alerts: [{resource: bak1, status: active}]
      - at: 40m
        alerts: [{resource: bak1, status: suppressed, suppressed_reason: "maintenance window dst-night-window"}]
      - at: 90m
        alerts: [{resource: bak1, status: active}]
  - name: a one-off window
    start: "2026-06-01T00:30:00Z"
    input:
      - {at: 0s, event: {resource: bak2, event: device_down, severity: critical, labels: {role: backup}}}
    expect:
      - at: 0s
        alerts: [{resource: bak2, status: suppressed}]
      - at: 31m
        alerts: [{resource: bak2, status: active}]
"""


async def test_interval_rule_tests(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    f.write_text(RULES)
    rs, errors = load_ruleset([f])
    assert errors == []
    results = await RuleTestRunner(compile_ruleset(rs)).run(list(rs.tests))
    assert [r.report() for r in results if not r.ok] == []
    assert len(results) == 2


async def test_one_off_window_end_to_end(settings_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A running server with a one-off window around now and a recurring window that excludes now."""
    from tests.correlate.test_api_e2e import send
    from tests.support.server import start_live_server

    now = datetime.now(UTC)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "w.yaml").write_text(f"""
rules:
  - id: change-window
    maintenance:
      when: {{labels.role: backup}}
      schedule: {{start: "{(now - timedelta(hours=1)).isoformat()}", end: "{(now + timedelta(hours=1)).isoformat()}"}}
  - id: never-this-year
    maintenance:
      when: {{labels.role: db}}
      schedule: {{years: ["{now.year + 5}"]}}
""")
    async with start_live_server(settings_factory(rules_dir=rules, rules_watch=False)) as srv, \
            srv.client(srv.write_key) as c:
        a, b = await send(c, {"resource": "bak1", "event": "device_down", "labels": {"role": "backup"}},
                          {"resource": "db1", "event": "device_down", "labels": {"role": "db"}})
        assert (a["outcome"], b["outcome"]) == ("suppressed", "created")
        got = (await c.get(f"/api/v1/alerts/{a['alert_id']}")).json()
        assert got["suppressed_reason"] == "maintenance window change-window"
