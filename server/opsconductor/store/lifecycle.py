"""The alert lifecycle as pure functions (Alerta's semantics are the reference).

Given the currently open alert for a fingerprint (a row as a dict, or None) and a
Decision, :func:`apply_decision` says what the row becomes, which history entries
to append and which transition (if any) the notify stage should hear about. No I/O:
the store feeds rows in and writes the result out, so this is testable by data.

- A repeat of the same fingerprint and severity: last_seen/value/summary updated,
  duplicate_count + 1 (``deduplicated``).
- Same fingerprint, other severity: severity updated, previous_severity kept, a
  history entry (``updated``); an acknowledged alert re-opens when the severity
  rises (``reopened``) and stays acknowledged otherwise.
- ``clear`` resolves the open alert (``resolved``); with no open alert it is
  ``ignored`` (a clear never creates an orphan alert).
- No open alert: a new row (``created``, or ``suppressed`` with the reason).
- A suppression that no longer applies re-activates the alert; one that starts
  applying suppresses an active alert. Acknowledged alerts keep their status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from opsconductor.correlate.decision import Decision
from opsconductor.model.alert import AlertStatus, Outcome
from opsconductor.model.event import SEVERITY_RANK, Severity

Row = dict[str, Any]

SYSTEM_ACTOR = "opsconductor"


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of an alert that people may need to hear about (the notify stage decides)."""

    # firing | severity_changed | acknowledged | unacknowledged | resolved | expired | suppressed | unsuppressed
    kind: str
    alert: Row  # the row after the change
    previous_status: str | None = None
    previous_severity: str | None = None
    actor: str = SYSTEM_ACTOR
    text: str | None = None


@dataclass(slots=True)
class Change:
    """The result of applying one decision: the new row state, history, transitions."""

    outcome: Outcome
    row: Row | None = None  # None when nothing is written to the alert table
    is_new: bool = False
    history: list[Row] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)


def _history(
    kind: str,
    row: Row,
    now: datetime,
    event_id: int | None,
    *,
    previous_status: str | None = None,
    previous_severity: str | None = None,
    text: str | None = None,
    actor: str = SYSTEM_ACTOR,
) -> Row:
    return {
        "kind": kind,
        "at": now,
        "status": row["status"],
        "severity": row["severity"],
        "previous_status": previous_status,
        "previous_severity": previous_severity,
        "text": text,
        "actor": actor,
        "event_id": event_id,
    }


def _expires(last_seen: datetime, timeout: int) -> datetime | None:
    return last_seen + timedelta(seconds=timeout) if timeout > 0 else None


def new_row(d: Decision, now: datetime, default_timeout: int) -> Row:
    """A fresh alert row for a decision that opens an alert."""
    ev = d.event
    seen = ev.occurred_at or now
    timeout = d.timeout if d.timeout is not None else default_timeout
    return {
        "fingerprint": d.fingerprint,
        "resource": ev.resource,
        "component": ev.component,
        "event": ev.event,
        "severity": d.severity.value,
        "previous_severity": None,
        "status": (AlertStatus.suppressed if d.suppressed_reason else AlertStatus.active).value,
        "summary": ev.summary,
        "value": ev.value,
        "labels": dict(ev.labels),
        "source": ev.source,
        "first_seen": seen,
        "last_seen": seen,
        "duplicate_count": 0,
        "acknowledged_by": None,
        "acknowledged_at": None,
        "resolved_at": None,
        "suppressed_reason": d.suppressed_reason,
        "rule_id": d.rule_id,
        "ruleset_version": d.ruleset_version,
        "timeout": timeout,
        "expires_at": _expires(seen, timeout),
        "trace": list(d.trace),
        "updated_at": now,
        "parent_id": None,  # set by the correlate stage once its correlation parent is open
    }


def apply_decision(current: Row | None, d: Decision, now: datetime, *, default_timeout: int) -> Change:
    """Apply one decision to the open alert of its fingerprint (or to none)."""
    if d.drop:
        return Change(Outcome.dropped)
    if current is not None and not AlertStatus(current["status"]).is_open:
        current = None  # closed rows are history; a new occurrence opens a new row
    if d.is_clear:
        return _resolve(current, d, now) if current is not None else Change(Outcome.ignored)
    if current is None:
        row = new_row(d, now, default_timeout)
        change = Change(Outcome.suppressed if d.suppressed_reason else Outcome.created, row, is_new=True)
        change.history.append(
            _history("created", row, now, d.event_id, text=d.suppressed_reason and f"suppressed: {d.suppressed_reason}")
        )
        change.transitions.append(Transition("suppressed" if d.suppressed_reason else "firing", row))
        return change
    return _update(current, d, now, default_timeout)


def _resolve(current: Row, d: Decision, now: datetime) -> Change:
    ev = d.event
    row = dict(current)
    row.update(
        status=AlertStatus.resolved.value,
        previous_severity=current["severity"],
        severity=Severity.clear.value,
        resolved_at=now,
        last_seen=max(current["last_seen"], ev.occurred_at or now),
        updated_at=now,
        expires_at=None,
        summary=ev.summary or current["summary"],
        value=ev.value if ev.value is not None else current["value"],
        trace=[*current.get("trace", []), *d.trace],
    )
    change = Change(Outcome.resolved, row)
    change.history.append(
        _history("status", row, now, d.event_id, previous_status=current["status"],
                 previous_severity=current["severity"], text=ev.summary or f"cleared by {ev.event}")
    )
    change.transitions.append(Transition("resolved", row, current["status"], current["severity"]))
    return change


def _update(current: Row, d: Decision, now: datetime, default_timeout: int) -> Change:
    ev = d.event
    row = dict(current)
    seen = max(current["last_seen"], ev.occurred_at or now)
    timeout = d.timeout if d.timeout is not None else current.get("timeout", default_timeout)
    row.update(
        last_seen=seen,
        value=ev.value,
        summary=ev.summary if ev.summary is not None else current["summary"],
        labels={**current["labels"], **ev.labels},
        timeout=timeout,
        expires_at=_expires(seen, timeout),
        updated_at=now,
        rule_id=d.rule_id or current["rule_id"],
        ruleset_version=d.ruleset_version,
    )
    if d.trace:  # otherwise the stored trace stays as it is (it may not even be loaded)
        row["trace"] = list(d.trace)
    change = Change(Outcome.deduplicated, row)
    old_sev, new_sev = current["severity"], d.severity.value
    status = current["status"]

    if new_sev == old_sev:
        row["duplicate_count"] = current["duplicate_count"] + 1
    else:
        row.update(severity=new_sev, previous_severity=old_sev, duplicate_count=0)  # Alerta resets it too
        raised = SEVERITY_RANK[d.severity] > SEVERITY_RANK[Severity(old_sev)]
        if status == AlertStatus.acknowledged and raised:
            row.update(status=AlertStatus.active.value, acknowledged_by=None, acknowledged_at=None)
            change.outcome = Outcome.reopened
        else:
            change.outcome = Outcome.updated
        change.history.append(
            _history("severity", row, now, d.event_id, previous_status=status, previous_severity=old_sev,
                     text=ev.summary)
        )
        change.transitions.append(Transition("severity_changed", row, status, old_sev))

    # Suppression follows the current decision; acknowledged alerts keep their status.
    if d.suppressed_reason and row["status"] == AlertStatus.active:
        row.update(status=AlertStatus.suppressed.value, suppressed_reason=d.suppressed_reason)
        change.outcome = Outcome.suppressed
        change.history.append(_history("status", row, now, d.event_id, previous_status=status,
                                       text=f"suppressed: {d.suppressed_reason}"))
        change.transitions.append(Transition("suppressed", row, status, old_sev))
    elif not d.suppressed_reason and row["status"] == AlertStatus.suppressed:
        row.update(status=AlertStatus.active.value, suppressed_reason=None)
        change.history.append(_history("status", row, now, d.event_id, previous_status=status,
                                       text="suppression ended"))
        change.transitions.append(Transition("unsuppressed", row, status, old_sev))
    elif d.suppressed_reason and row["status"] == AlertStatus.suppressed:
        row["suppressed_reason"] = d.suppressed_reason
    return change
