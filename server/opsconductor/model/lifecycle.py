"""The alert state machine: every change of an alert, as pure functions (Alerta's semantics).

One entry point, :func:`transition`, takes the alert as it is (a row dict, or None), a
trigger and the time, and says what the row becomes, which history entries to append and
which :class:`Transition` the notify stage hears. Every producer of alert changes uses it:
events (:class:`EventTrigger`), operator actions and expiry (:class:`ActionTrigger`),
suppression re-decisions (:class:`Redecide`) and reminders (:func:`remind`). No I/O: the
one writer (``store/alert_writer.py``) feeds rows in and writes the result out.

Each rule that fired is named in :attr:`Change.rules` (:class:`LifecycleRule`):

- ``open_alert``: no open alert for the fingerprint -> a new row (active, or suppressed).
- ``duplicate``: same severity -> last_seen/value/summary updated, duplicate_count + 1.
- ``severity_change``: other severity -> severity updated, previous_severity kept, duplicate_count reset, history.
- ``reopen_on_raise``: an acknowledged alert re-opens when its severity rises.
- ``clear_resolves`` / ``clear_without_alert``: a clear resolves the open alert; with none it
  is ignored (a clear never creates an orphan alert).
- ``suppress`` / ``unsuppress`` / ``suppress_reason``: suppression follows the latest
  decision (event or re-decision); acknowledged alerts keep their status.
- ``ack`` / ``unack`` / ``operator_resolve`` / ``note`` / ``expire``: actions, open alerts only
  (a note applies to any alert).
- ``remind``: an active alert is still active after its repeat interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from opsconductor.errors import Conflict
from opsconductor.model.alert import Action, AlertStatus, HistoryKind, Outcome, TransitionKind
from opsconductor.model.decision import Decision
from opsconductor.model.event import SEVERITY_RANK, NormalizedEvent, Severity

Row = dict[str, Any]

SYSTEM_ACTOR = "opsconductor"


class LifecycleRule(StrEnum):
    """The named rules of the state machine (see the module docstring)."""

    drop = "drop"
    open_alert = "open_alert"
    duplicate = "duplicate"
    severity_change = "severity_change"
    reopen_on_raise = "reopen_on_raise"
    clear_resolves = "clear_resolves"
    clear_without_alert = "clear_without_alert"
    suppress = "suppress"
    unsuppress = "unsuppress"
    suppress_reason = "suppress_reason"
    ack = "ack"
    unack = "unack"
    operator_resolve = "operator_resolve"
    note = "note"
    expire = "expire"
    remind = "remind"


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of an alert that people may need to hear about (the notify stage decides)."""

    kind: TransitionKind
    alert: Row  # the row after the change
    previous_status: str | None = None
    previous_severity: str | None = None
    actor: str = SYSTEM_ACTOR
    text: str | None = None


@dataclass(slots=True)
class Change:
    """What one trigger does: the new row state, history, transitions, the rules that fired."""

    outcome: Outcome | None = None  # for event triggers: what the event did
    row: Row | None = None  # None when nothing is written to the alert table
    is_new: bool = False
    history: list[Row] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    rules: list[LifecycleRule] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class EventTrigger:
    decision: Decision
    default_timeout: int


@dataclass(frozen=True, slots=True)
class ActionTrigger:
    action: Action
    actor: str
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Redecide:
    """The suppression of an open alert decided again (a silence, window or inhibitor changed)."""

    reason: str | None
    trace: tuple[dict[str, Any], ...] = ()


Trigger = EventTrigger | ActionTrigger | Redecide


def transition(current: Row | None, trigger: Trigger, now: datetime) -> Change:
    """The one entry point: what ``trigger`` does to ``current`` at ``now``.

    Raises :class:`Conflict` for an action the alert's status does not allow."""
    if isinstance(trigger, EventTrigger):
        return on_event(current, trigger.decision, now, default_timeout=trigger.default_timeout)
    if current is None:
        raise ValueError("actions and re-decisions apply to an existing alert")
    if isinstance(trigger, ActionTrigger):
        return on_action(current, trigger.action, trigger.actor, now, trigger.text)
    return on_redecide(current, trigger.reason, trigger.trace, now)


def history_entry(kind: HistoryKind, row: Row, now: datetime, event_id: int | None = None, *,
                  previous_status: str | None = None, previous_severity: str | None = None,
                  text: str | None = None, actor: str = SYSTEM_ACTOR) -> Row:
    return {"kind": kind.value, "at": now, "status": row["status"], "severity": row["severity"],
            "previous_status": previous_status, "previous_severity": previous_severity, "text": text,
            "actor": actor, "event_id": event_id}


def _expires(last_seen: datetime, timeout: int) -> datetime | None:
    return last_seen + timedelta(seconds=timeout) if timeout > 0 else None


# -- events -----------------------------------------------------------------------------
def as_stored(current: Row | None, ev: NormalizedEvent, severity: Severity) -> Row:
    """The matchable fields of the alert as it is stored after this (non-clear) event.

    The one view suppression decides on: new events (the correlator), re-checks of stored
    alerts, ``explain`` and ``rules test`` all see this, so they cannot disagree. The
    event rules below build their rows from it, so the view cannot drift from the row."""
    if current is None or not AlertStatus(current["status"]).is_open:
        return {"resource": ev.resource, "event": ev.event, "component": ev.component, "source": ev.source,
                "severity": severity.value, "summary": ev.summary, "value": ev.value, "labels": dict(ev.labels)}
    return {"resource": current["resource"], "event": current["event"], "component": current["component"],
            "source": current["source"], "severity": severity.value,
            "summary": ev.summary if ev.summary is not None else current["summary"], "value": ev.value,
            "labels": {**(current["labels"] or {}), **ev.labels}}


def new_row(d: Decision, now: datetime, default_timeout: int) -> Row:
    """A fresh alert row for a decision that opens an alert."""
    ev = d.event
    seen = ev.occurred_at or now
    timeout = d.timeout if d.timeout is not None else default_timeout
    return {
        **as_stored(None, ev, d.severity), "fingerprint": d.fingerprint, "previous_severity": None,
        "status": (AlertStatus.suppressed if d.suppressed_reason else AlertStatus.active).value,
        "first_seen": seen, "last_seen": seen, "duplicate_count": 0, "acknowledged_by": None,
        "acknowledged_at": None, "resolved_at": None, "suppressed_reason": d.suppressed_reason,
        "rule_id": d.rule_id, "ruleset_version": d.ruleset_version, "timeout": timeout,
        "expires_at": _expires(seen, timeout), "trace": list(d.trace), "updated_at": now,
        "parent_id": None,  # set by the correlate stage once its correlation parent is open
    }


def on_event(current: Row | None, d: Decision, now: datetime, *, default_timeout: int) -> Change:
    """Apply one decision to the open alert of its fingerprint (or to none)."""
    if d.drop:
        return Change(Outcome.dropped, rules=[LifecycleRule.drop])
    if current is not None and not AlertStatus(current["status"]).is_open:
        current = None  # closed rows are history; a new occurrence opens a new row
    if d.is_clear:
        if current is None:
            return Change(Outcome.ignored, rules=[LifecycleRule.clear_without_alert])
        return _resolve(current, d, now)
    if current is None:
        row = new_row(d, now, default_timeout)
        change = Change(Outcome.suppressed if d.suppressed_reason else Outcome.created, row, is_new=True,
                        rules=[LifecycleRule.open_alert])
        change.history.append(history_entry(HistoryKind.created, row, now, d.event_id,
                                            text=d.suppressed_reason and f"suppressed: {d.suppressed_reason}"))
        kind = TransitionKind.suppressed if d.suppressed_reason else TransitionKind.firing
        change.transitions.append(Transition(kind, row))
        return change
    return _update(current, d, now, default_timeout)


def _resolve(current: Row, d: Decision, now: datetime) -> Change:
    ev = d.event
    row = dict(current)
    row.update(status=AlertStatus.resolved.value, previous_severity=current["severity"],
               severity=Severity.clear.value, resolved_at=now,
               last_seen=max(current["last_seen"], ev.occurred_at or now), updated_at=now, expires_at=None,
               summary=ev.summary or current["summary"],
               value=ev.value if ev.value is not None else current["value"],
               trace=[*current.get("trace", []), *d.trace])
    change = Change(Outcome.resolved, row, rules=[LifecycleRule.clear_resolves])
    change.history.append(history_entry(HistoryKind.status, row, now, d.event_id, previous_status=current["status"],
                                        previous_severity=current["severity"],
                                        text=ev.summary or f"cleared by {ev.event}"))
    change.transitions.append(Transition(TransitionKind.resolved, row, current["status"], current["severity"]))
    return change


def _update(current: Row, d: Decision, now: datetime, default_timeout: int) -> Change:
    ev = d.event
    row = dict(current)
    seen = max(current["last_seen"], ev.occurred_at or now)
    timeout = d.timeout if d.timeout is not None else current.get("timeout", default_timeout)
    view = as_stored(current, ev, d.severity)
    row.update(last_seen=seen, value=view["value"], summary=view["summary"], labels=view["labels"],
               timeout=timeout, expires_at=_expires(seen, timeout),
               updated_at=now, rule_id=d.rule_id or current["rule_id"], ruleset_version=d.ruleset_version)
    if d.trace:  # otherwise the stored trace stays as it is (it may not even be loaded)
        row["trace"] = list(d.trace)
    change = Change(Outcome.deduplicated, row)
    old_sev, new_sev = current["severity"], d.severity.value
    status = current["status"]
    if new_sev == old_sev:
        row["duplicate_count"] = current["duplicate_count"] + 1
        change.rules.append(LifecycleRule.duplicate)
    else:
        row.update(severity=new_sev, previous_severity=old_sev, duplicate_count=0)  # Alerta resets it too
        raised = SEVERITY_RANK[d.severity] > SEVERITY_RANK[Severity(old_sev)]
        if status == AlertStatus.acknowledged and raised:
            row.update(status=AlertStatus.active.value, acknowledged_by=None, acknowledged_at=None)
            change.outcome = Outcome.reopened
            change.rules.append(LifecycleRule.reopen_on_raise)
        else:
            change.outcome = Outcome.updated
            change.rules.append(LifecycleRule.severity_change)
        change.history.append(history_entry(HistoryKind.severity, row, now, d.event_id, previous_status=status,
                                            previous_severity=old_sev, text=ev.summary))
        change.transitions.append(Transition(TransitionKind.severity_changed, row, status, old_sev))
    if (_follow_suppression(change, row, d.suppressed_reason, status, old_sev, now, d.event_id)
            and change.rules[-1] is LifecycleRule.suppress):
        change.outcome = Outcome.suppressed
    return change


def _follow_suppression(change: Change, row: Row, reason: str | None, status: str, severity: str, now: datetime,
                        event_id: int | None, *, ended_text: str = "suppression ended") -> bool:
    """Suppression follows the latest decision; acknowledged alerts keep their status.
    Mutates ``row``/``change``; True when the status or the reason changed."""
    if reason and row["status"] == AlertStatus.active:
        row.update(status=AlertStatus.suppressed.value, suppressed_reason=reason)
        change.rules.append(LifecycleRule.suppress)
        text = f"suppressed: {reason}"
        change.history.append(history_entry(HistoryKind.status, row, now, event_id, previous_status=status, text=text))
        change.transitions.append(Transition(TransitionKind.suppressed, row, status, severity, text=text))
        return True
    if not reason and row["status"] == AlertStatus.suppressed:
        row.update(status=AlertStatus.active.value, suppressed_reason=None)
        change.rules.append(LifecycleRule.unsuppress)
        change.history.append(history_entry(HistoryKind.status, row, now, event_id, previous_status=status,
                                            text=ended_text))
        change.transitions.append(Transition(TransitionKind.unsuppressed, row, status, severity, text=ended_text))
        return True
    if reason and row["status"] == AlertStatus.suppressed and row.get("suppressed_reason") != reason:
        row["suppressed_reason"] = reason
        change.rules.append(LifecycleRule.suppress_reason)
        return True
    return False


# -- suppression re-decisions -----------------------------------------------------------------
def on_redecide(current: Row, reason: str | None, trace: tuple[dict[str, Any], ...] | list[dict[str, Any]],
                now: datetime) -> Change:
    """The suppression of an open alert decided again; ``Change.row`` is None when nothing changes."""
    status = current["status"]
    if status == AlertStatus.acknowledged or not AlertStatus(status).is_open:
        return Change()
    row = dict(current)
    change = Change(row=row)
    old_reason = current.get("suppressed_reason")
    if not _follow_suppression(change, row, reason, status, current["severity"], now, None,
                               ended_text=f"suppression ended ({old_reason})"):
        if reason == old_reason:
            return Change()
        row["suppressed_reason"] = reason  # an active alert with a stale reason (kept tidy)
    row["updated_at"] = now
    row["trace"] = [*current.get("trace", []),
                    {"stage": "reevaluate", "at_time": now.isoformat(),
                     "detail": f"suppressed: {reason}" if reason else "suppression ended"}, *trace]
    return change


# -- operator actions and expiry ---------------------------------------------------------------
_ACTION_RULES = {Action.ack: LifecycleRule.ack, Action.unack: LifecycleRule.unack,
                 Action.resolve: LifecycleRule.operator_resolve, Action.note: LifecycleRule.note,
                 Action.expire: LifecycleRule.expire}


def on_action(row: Row, action: Action, actor: str, now: datetime, text: str | None) -> Change:
    """An operator action (or housekeeping's expiry); Conflict if the status does not allow it."""
    status = row["status"]
    new = dict(row)
    if action is not Action.note:  # a note is history only: the row stays as it is
        new["updated_at"] = now
    kind = HistoryKind.status
    tkind: TransitionKind | None = None
    if action is Action.note:
        kind = HistoryKind.note
    elif not AlertStatus(status).is_open:
        raise Conflict(f"alert {row['id']} is {status}; {action.value} applies to open alerts only")
    elif action is Action.ack:
        if status == AlertStatus.acknowledged:
            raise Conflict(f"alert {row['id']} is already acknowledged")
        new.update(status=AlertStatus.acknowledged.value, acknowledged_by=actor, acknowledged_at=now)
        kind, tkind = HistoryKind.ack, TransitionKind.acknowledged
    elif action is Action.unack:
        if status != AlertStatus.acknowledged:
            raise Conflict(f"alert {row['id']} is not acknowledged")
        back = AlertStatus.suppressed if row.get("suppressed_reason") else AlertStatus.active
        new.update(status=back.value, acknowledged_by=None, acknowledged_at=None)
        kind, tkind = HistoryKind.unack, TransitionKind.unacknowledged
    elif action is Action.resolve:
        new.update(status=AlertStatus.resolved.value, resolved_at=now, previous_severity=row["severity"],
                   severity=Severity.clear.value, expires_at=None)
        tkind = TransitionKind.resolved
    elif action is Action.expire:
        new.update(status=AlertStatus.expired.value, resolved_at=now, expires_at=None)
        tkind = TransitionKind.expired
    change = Change(row=new, rules=[_ACTION_RULES[action]])
    change.history.append(history_entry(
        kind, new, now, previous_status=status, text=text, actor=actor,
        previous_severity=row["severity"] if new["severity"] != row["severity"] else None))
    if tkind is not None:
        change.transitions.append(Transition(tkind, new, status, row["severity"], actor=actor, text=text))
    return change


# -- reminders ---------------------------------------------------------------------------------
def remind(row: Row | None) -> Transition | None:
    """A reminder for an alert still active (rule ``remind``); closed or acknowledged ones stop."""
    if row is None or row["status"] != AlertStatus.active:
        return None
    return Transition(TransitionKind.repeat, row)
