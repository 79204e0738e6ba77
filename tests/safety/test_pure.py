"""The pure parts: self-alert decisions and time sanity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opsconductor.health.checks import Observation, SelfAlert, plan, self_alerts
from opsconductor.model.event import NormalizedEvent, Severity
from opsconductor.normalize.validate import stamp_times, time_problem

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_self_alerts_follow_the_observation() -> None:
    obs = Observation(now=NOW, oldest_unprocessed=NOW - timedelta(seconds=61), quarantined=2,
                      rules_errors=["rules/10-x.yaml:3:5: bad", "rules/10-x.yaml:9:1: worse", "no location"],
                      rules_dir="rules", receivers_failing={"hook": "dead"}, trap_error="port taken")
    got = self_alerts(obs, stall_s=60)
    assert set(got) == {("event-processing", "processing_stalled"), ("event-quarantine", "events_quarantined"),
                        ("rules/10-x.yaml", "rules_reload_refused"), ("rules", "rules_reload_refused"),
                        ("receiver/hook", "receiver_failing"), ("trap-listener", "listener_not_bound")}
    assert "bad; rules/10-x.yaml:9:1: worse" in got[("rules/10-x.yaml", "rules_reload_refused")].summary
    assert self_alerts(Observation(now=NOW, oldest_unprocessed=NOW - timedelta(seconds=59)), stall_s=60) == {}


def test_plan_raises_what_is_new_or_changed_and_clears_what_is_gone() -> None:
    a = SelfAlert("event-quarantine", "events_quarantined", Severity.major, "1 events quarantined")
    b = SelfAlert("trap-listener", "listener_not_bound", Severity.critical, "port taken")
    assert plan({}, {a.key: a}) == ([a], [])
    assert plan({a.key: a}, {a.key: a}) == ([], [])
    changed = SelfAlert(a.resource, a.event, a.severity, "2 events quarantined")
    assert plan({a.key: a}, {a.key: changed}) == ([changed], [])
    assert plan({a.key: a, b.key: None}, {}) == ([], [a.key, b.key])  # None: found open at start
    assert a.as_event().source == "opsconductor"


def test_time_sanity() -> None:
    assert time_problem(datetime(9999, 12, 31, 12, tzinfo=UTC), NOW, 86_400) is not None
    assert time_problem(datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), NOW, 86_400) is not None
    assert time_problem(NOW + timedelta(hours=23), NOW, 86_400) is None
    assert time_problem(None, NOW, 0) is None
    ok = NormalizedEvent(resource="r", event="e", occurred_at=NOW)
    bad = NormalizedEvent(resource="r", event="e", occurred_at=datetime(9999, 1, 1, tzinfo=UTC), labels={"a": "b"})
    out = stamp_times([ok, bad], NOW, 86_400)
    assert out[0] is ok
    assert out[1].occurred_at is None and out[1].labels == {"a": "b", "occurred_at_original": "9999-01-01T00:00:00Z"}
