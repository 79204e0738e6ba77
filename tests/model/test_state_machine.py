"""The one alert state machine: every trigger (event, action, expiry, re-decision, reminder),
each rule named, statuses and transition kinds as enum members."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opsconductor.errors import Conflict
from opsconductor.model.alert import Action, AlertStatus, HistoryKind, Outcome, TransitionKind
from opsconductor.model.decision import Decision, default_fingerprint
from opsconductor.model.event import NormalizedEvent, Severity
from opsconductor.model.lifecycle import (
    ActionTrigger,
    EventTrigger,
    LifecycleRule,
    Redecide,
    Row,
    remind,
    transition,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def event(sev: Severity, reason: str | None = None, at: int = 0) -> EventTrigger:
    ev = NormalizedEvent(resource="rtr1", event="link_down", component="ge-0/0/1", severity=sev,
                         occurred_at=T0 + timedelta(seconds=at))
    return EventTrigger(Decision(at, ev, default_fingerprint(ev), sev, suppressed_reason=reason), 600)


def opened(reason: str | None = None) -> Row:
    ch = transition(None, event(Severity.major, reason), T0)
    assert ch.row is not None
    return {**ch.row, "id": 7}


def test_each_event_rule_is_named() -> None:
    row = opened()
    assert transition(None, event(Severity.major), T0).rules == [LifecycleRule.open_alert]
    assert transition(row, event(Severity.major, at=1), T0).rules == [LifecycleRule.duplicate]
    assert transition(row, event(Severity.minor, at=1), T0).rules == [LifecycleRule.severity_change]
    assert transition(row, event(Severity.clear, at=1), T0).rules == [LifecycleRule.clear_resolves]
    assert transition(None, event(Severity.clear), T0).rules == [LifecycleRule.clear_without_alert]
    acked = {**row, "status": AlertStatus.acknowledged.value}
    assert transition(acked, event(Severity.critical, at=1), T0).rules == [LifecycleRule.reopen_on_raise]
    ch = transition(row, event(Severity.major, "silence 1: x", at=1), T0)
    assert ch.rules == [LifecycleRule.duplicate, LifecycleRule.suppress] and ch.outcome is Outcome.suppressed
    assert [t.kind for t in ch.transitions] == [TransitionKind.suppressed]


def test_actions_follow_the_same_machine_and_refuse_what_the_status_forbids() -> None:
    row = opened()
    ack = transition(row, ActionTrigger(Action.ack, "ann"), T0)
    assert ack.row is not None and ack.row["status"] == AlertStatus.acknowledged and ack.rules == [LifecycleRule.ack]
    assert [h["kind"] for h in ack.history] == [HistoryKind.ack]
    assert [(t.kind, t.actor) for t in ack.transitions] == [(TransitionKind.acknowledged, "ann")]
    with pytest.raises(Conflict):
        transition(ack.row, ActionTrigger(Action.ack, "ann"), T0)
    with pytest.raises(Conflict):
        transition(row, ActionTrigger(Action.unack, "ann"), T0)
    # unack of an alert whose suppression still holds goes back to suppressed
    back = transition({**ack.row, "suppressed_reason": "silence 2"}, ActionTrigger(Action.unack, "ann"), T0)
    assert back.row is not None and back.row["status"] == AlertStatus.suppressed
    expired = transition(row, ActionTrigger(Action.expire, "housekeeping"), T0)
    assert expired.row is not None and expired.row["status"] == AlertStatus.expired
    assert [t.kind for t in expired.transitions] == [TransitionKind.expired]
    with pytest.raises(Conflict):
        transition(expired.row, ActionTrigger(Action.resolve, "ann"), T0)
    note = transition(expired.row, ActionTrigger(Action.note, "ann", "post mortem"), T0)  # notes: any alert
    assert note.transitions == [] and note.row == expired.row and note.history[0]["text"] == "post mortem"


def test_a_re_decision_suppresses_releases_or_changes_nothing() -> None:
    row = opened()
    ch = transition(row, Redecide("silence 3: maint"), T0)
    assert ch.rules == [LifecycleRule.suppress] and ch.row is not None
    assert ch.row["status"] == AlertStatus.suppressed and ch.row["trace"][-1]["stage"] == "reevaluate"
    back = transition(ch.row, Redecide(None), T0)
    assert back.rules == [LifecycleRule.unsuppress] and back.row is not None
    assert back.transitions[0].text == "suppression ended (silence 3: maint)"
    assert transition(row, Redecide(None), T0).row is None  # nothing to do
    acked = {**row, "status": AlertStatus.acknowledged.value}
    assert transition(acked, Redecide("silence 3: maint"), T0).row is None  # acknowledged keeps its status
    other = transition(ch.row, Redecide("silence 4: other"), T0)
    assert other.rules == [LifecycleRule.suppress_reason] and other.transitions == []


def test_reminders_only_for_active_alerts() -> None:
    row = opened()
    r = remind(row)
    assert r is not None and r.kind is TransitionKind.repeat
    assert remind({**row, "status": AlertStatus.acknowledged.value}) is None
    assert remind({**row, "status": AlertStatus.resolved.value}) is None
    assert remind(None) is None


def test_an_event_and_a_re_decision_agree_on_suppression_words() -> None:
    """The same suppression reason, whether it arrives with an event or a re-decision."""
    row = opened()
    by_event = transition(row, event(Severity.major, "silence 1: x", at=1), T0)
    by_redecide = transition(row, Redecide("silence 1: x"), T0)
    assert by_event.row is not None and by_redecide.row is not None
    assert (by_event.row["status"], by_event.row["suppressed_reason"]) == (
        by_redecide.row["status"], by_redecide.row["suppressed_reason"])
    assert by_event.history[-1]["text"] == by_redecide.history[-1]["text"] == "suppressed: silence 1: x"
