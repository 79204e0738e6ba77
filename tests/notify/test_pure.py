"""Pure parts: matchers, time windows, grouping timers, the retry schedule, templates."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from opsconductor.notify.config import parse_config
from opsconductor.notify.receivers.base import retry_after
from opsconductor.notify.routing import group_due, group_key, match_routes
from opsconductor.notify.schedule import backoff
from opsconductor.notify.templates import Renderer, alert_context

ALERT = {"id": 9, "resource": "rtr1.ams", "event": "cpu_high", "component": None, "severity": "minor",
         "status": "active", "value": 93, "summary": "CPU 93%", "source": "snmp", "labels": {"site": "ams1"}}
NOON = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday


def routed(match_yaml: str, **alert: object) -> bool:
    cfg = parse_config("receivers:\n  a: {kind: webhook, url: env:A}\n  b: {kind: webhook, url: env:B}\n"
                       f"route:\n  receiver: a\n  routes:\n    - receiver: b\n      match: {match_yaml}\n")
    return [r.receiver for r in match_routes(cfg.route, {**ALERT, **alert}, NOON)] == ["b"]


@pytest.mark.parametrize(("matcher", "expected"), [
    ("{severity: minor}", True),
    ("{severity: [major, critical]}", False),
    ("{resource: {regex: 'rtr[0-9]+'}}", False),  # full match, not search
    ("{resource: {regex: 'rtr[0-9]+\\..*'}}", True),
    ("{labels.site: {not: {regex: 'fra.*'}}}", True),
    ("{value: {gt: 90}}", True),
    ("{value: {le: 90}}", False),
    ("{summary: {gt: 1}}", False),  # not a number: never matches
    ("{component: {exists: false}}", True),
    ("{labels.rack: {exists: true}}", False),
    ("{value: 93}", True),
    ("{status: active, source: snmp}", True),
])
def test_matchers(matcher: str, expected: bool) -> None:
    assert routed(matcher) is expected


def test_time_windows_active_and_muted() -> None:
    cfg = parse_config("""
receivers: {a: {kind: webhook, url: env:A}, b: {kind: webhook, url: env:B}}
route:
  receiver: a
  routes:
    - receiver: b
      active_time: [{days: [mon-fri], start: "08:00", end: "18:00", timezone: Europe/Amsterdam}]
      mute_time: [{days: [wed], start: "12:30", end: "13:30", timezone: Europe/Amsterdam}]
""")

    def at(d: datetime) -> list[str]:
        return [r.receiver for r in match_routes(cfg.route, ALERT, d)]

    assert at(NOON) == []  # 12:00 UTC = 13:00 CET: inside Wednesday's mute; a muted match stops the walk
    assert at(NOON - timedelta(hours=1, minutes=30)) == ["b"]  # 11:30 CET: active, not muted
    assert at(datetime(2026, 3, 7, 12, 0, tzinfo=UTC)) == []  # Saturday: not active, and muted routes stay quiet


def test_window_across_midnight() -> None:
    cfg = parse_config("""
receivers: {a: {kind: webhook, url: env:A}}
route: {receiver: a, mute_time: [{days: [fri], start: "22:00", end: "06:00"}]}
""")
    fri_late, sat_early, sat_late = (datetime(2026, 3, d, h, tzinfo=UTC) for d, h in ((6, 23), (7, 5), (7, 23)))
    assert [bool(match_routes(cfg.route, ALERT, t)) for t in (fri_late, sat_early, sat_late)] == [False, False, True]


def test_group_timers() -> None:
    cfg = parse_config("receivers: {a: {kind: webhook, url: env:A}}\n"
                       "route: {receiver: a, group_by: [labels.site], group_wait: 30s, group_interval: 5m}\n")
    route = cfg.route
    assert route is not None
    s = timedelta(seconds=1)
    assert group_due(NOON, route, None, None) == NOON + 30 * s  # new group waits group_wait
    assert group_due(NOON, route, NOON + 10 * s, None) == NOON + 10 * s  # joins the scheduled flush
    assert group_due(NOON, route, None, NOON - 60 * s) == NOON + 240 * s  # sent recently: group_interval
    assert group_due(NOON, route, None, NOON - 600 * s) == NOON + 30 * s  # idle group starts over
    assert group_key(route, ALERT) == "a|root|labels.site=ams1"


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    rng = random.Random(1)
    delays = [backoff(n, base=1, cap=60, rng=rng) for n in range(1, 10)]
    for n, d in enumerate(delays, start=1):
        step = min(60, 2 ** (n - 1))
        assert step / 2 <= d <= step
    assert backoff(1, base=1, cap=60, rng=rng, retry_after=30) == 30
    assert backoff(1, base=1, cap=60, rng=rng, retry_after=99999) == 3600


def test_retry_after_header_forms() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after("120") == 120
    assert retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30
    assert retry_after("soon") is None and retry_after(None) is None


def test_templates_are_sandboxed_and_overridable() -> None:
    ctx = alert_context({**ALERT, "first_seen": NOON}, "firing", history=[{"kind": "created"}],
                        links={"alert": "http://x/1"})
    r = Renderer({"title": "{{ alert.resource }}/{{ history | length }} {{ links.alert }}"})
    assert r.render("title", ctx) == "rtr1.ams/1 http://x/1"
    assert r.render("text", ctx) == "CPU 93% (value 93)"
    evil = Renderer({"title": "{{ ''.__class__.__mro__[1].__subclasses__() }}"})
    out = evil.render("title", ctx)
    assert "subclasses" not in out and "[template error: SecurityError]" in out
    assert "[template error" in Renderer({"title": "{{ missing.thing }}"}).render("title", ctx)
