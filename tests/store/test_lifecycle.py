"""The alert lifecycle as data: decisions in, rows/history/transitions out (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opsconductor.model.alert import Outcome
from opsconductor.model.decision import Decision, default_fingerprint
from opsconductor.model.event import NormalizedEvent, Severity
from opsconductor.model.lifecycle import Row, on_event

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def decide(severity: str, *, event: str = "link_down", suppressed: str | None = None, at: int = 0,
           timeout: int | None = None, **kw: object) -> Decision:
    ev = NormalizedEvent(resource="rtr1", event=event, component="ge-0/0/1", severity=Severity(severity),
                         occurred_at=T0 + timedelta(seconds=at), **kw)  # type: ignore[arg-type]
    return Decision(event_id=at, event=ev, fingerprint=default_fingerprint(ev.model_copy(update={"event": "link"})),
                    severity=Severity(severity), suppressed_reason=suppressed, timeout=timeout)


def step(row: Row | None, d: Decision) -> tuple[Row | None, Outcome, list[str], list[str]]:
    ch = on_event(row, d, T0 + timedelta(seconds=d.event_id), default_timeout=600)
    row_out = {**ch.row, "id": 1} if ch.row is not None else row
    return row_out, ch.outcome, [h["kind"] for h in ch.history], [t.kind for t in ch.transitions]


def test_new_event_creates_active_alert_with_history_and_firing_transition() -> None:
    row, outcome, history, transitions = step(None, decide("major", value=3, summary="down"))
    assert outcome is Outcome.created
    assert row is not None and row["status"] == "active" and row["severity"] == "major"
    assert row["duplicate_count"] == 0 and row["value"] == 3 and row["summary"] == "down"
    assert row["expires_at"] == T0 + timedelta(seconds=600)
    assert history == ["created"] and transitions == ["firing"]


def test_repeat_is_deduplicated_and_refreshes_last_seen_value_summary() -> None:
    row, *_ = step(None, decide("major", value=1))
    row, outcome, history, transitions = step(row, decide("major", at=30, value=2, summary="still down"))
    assert outcome is Outcome.deduplicated
    assert row is not None
    assert (row["duplicate_count"], row["value"], row["summary"]) == (1, 2, "still down")
    assert row["last_seen"] == T0 + timedelta(seconds=30) and row["first_seen"] == T0
    assert history == [] and transitions == []


def test_severity_change_keeps_previous_severity_and_records_history() -> None:
    row, *_ = step(None, decide("minor"))
    row, outcome, history, transitions = step(row, decide("critical", at=5))
    assert outcome is Outcome.updated
    assert row is not None and (row["severity"], row["previous_severity"]) == ("critical", "minor")
    assert row["duplicate_count"] == 0
    assert history == ["severity"] and transitions == ["severity_changed"]


def test_severity_change_resets_duplicate_count_and_a_new_alert_has_no_parent() -> None:
    row, *_ = step(None, decide("minor"))
    assert row is not None and row["parent_id"] is None  # linked by the correlate stage, never by the event
    row, *_ = step(row, decide("minor", at=2))
    assert row is not None and row["duplicate_count"] == 1
    row, *_ = step(row, decide("critical", at=5))
    assert row is not None and row["duplicate_count"] == 0  # Alerta resets it on a severity change


def test_clear_resolves_and_clear_without_alert_is_ignored() -> None:
    row, *_ = step(None, decide("major"))
    row, outcome, history, transitions = step(row, decide("clear", event="link_up", at=10))
    assert outcome is Outcome.resolved and history == ["status"]
    assert row is not None and row["status"] == "resolved" and row["previous_severity"] == "major"
    assert row["resolved_at"] == T0 + timedelta(seconds=10) and row["expires_at"] is None
    assert transitions == ["resolved"]
    none_row, outcome, _, transitions = step(None, decide("clear"))
    assert outcome is Outcome.ignored and none_row is None and transitions == []


def test_new_problem_after_resolve_opens_a_new_row() -> None:
    row, *_ = step(None, decide("major"))
    row, *_ = step(row, decide("clear", at=1))
    ch = on_event(row, decide("major", at=2), T0, default_timeout=600)
    assert ch.is_new and ch.outcome is Outcome.created and ch.row is not None and "id" not in ch.row


def test_acknowledged_stays_on_duplicates_and_lower_severity_but_reopens_on_increase() -> None:
    row, *_ = step(None, decide("major"))
    assert row is not None
    row = {**row, "status": "acknowledged", "acknowledged_by": "ops"}
    row, outcome, *_ = step(row, decide("major", at=1))
    assert outcome is Outcome.deduplicated and row is not None and row["status"] == "acknowledged"
    row, outcome, *_ = step(row, decide("minor", at=2))
    assert outcome is Outcome.updated and row is not None and row["status"] == "acknowledged"
    row, outcome, _, transitions = step(row, decide("critical", at=3))
    assert outcome is Outcome.reopened and row is not None
    assert row["status"] == "active" and row["acknowledged_by"] is None
    assert transitions == ["severity_changed"]


def test_suppression_follows_the_decision_and_reactivates_when_it_ends() -> None:
    row, outcome, _, transitions = step(None, decide("major", suppressed="silence 7: maintenance"))
    assert outcome is Outcome.suppressed and transitions == ["suppressed"]
    assert row is not None and row["status"] == "suppressed" and row["suppressed_reason"] == "silence 7: maintenance"
    row, outcome, _, transitions = step(row, decide("major", at=1))
    assert row is not None and row["status"] == "active" and row["suppressed_reason"] is None
    assert transitions == ["unsuppressed"]
    row, outcome, _, transitions = step(row, decide("major", at=2, suppressed="inhibited by device_down"))
    assert outcome is Outcome.suppressed and row is not None and row["status"] == "suppressed"


def test_a_resolve_is_never_suppressed() -> None:
    row, *_ = step(None, decide("major", suppressed="silence 1"))
    row, outcome, _, transitions = step(row, decide("clear", at=1, suppressed="silence 1"))
    assert outcome is Outcome.resolved and transitions == ["resolved"]


def test_dropped_decision_writes_nothing() -> None:
    d = decide("major")
    d = Decision(**{**{f: getattr(d, f) for f in d.__slots__}, "drop": True})  # type: ignore[arg-type]
    ch = on_event(None, d, T0, default_timeout=600)
    assert ch.outcome is Outcome.dropped and ch.row is None and not ch.history
