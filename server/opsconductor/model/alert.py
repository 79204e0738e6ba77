"""The alert vocabulary: one lifecycle for every alert, whatever produced it."""

from __future__ import annotations

from enum import StrEnum


class AlertStatus(StrEnum):
    """Where an alert is in its lifecycle; resolved and expired are closed."""

    active = "active"
    acknowledged = "acknowledged"
    suppressed = "suppressed"
    resolved = "resolved"
    expired = "expired"

    @property
    def is_open(self) -> bool:
        return self not in (AlertStatus.resolved, AlertStatus.expired)


OPEN_STATUSES = (AlertStatus.active, AlertStatus.acknowledged, AlertStatus.suppressed)


class Outcome(StrEnum):
    """What processing one event did to the alert table."""

    created = "created"  # a new alert row
    deduplicated = "deduplicated"  # same fingerprint, same severity: counter bumped
    updated = "updated"  # same fingerprint, severity changed
    reopened = "reopened"  # acknowledged alert re-opened by a severity increase
    resolved = "resolved"  # a clear closed the alert
    suppressed = "suppressed"  # stored, but with status suppressed
    dropped = "dropped"  # a rule dropped it: kept in the event log only
    ignored = "ignored"  # a clear with no open alert to resolve


class TransitionKind(StrEnum):
    """A change people may need to hear about; the notify stage routes these."""

    firing = "firing"
    severity_changed = "severity_changed"
    acknowledged = "acknowledged"
    unacknowledged = "unacknowledged"
    resolved = "resolved"
    expired = "expired"
    suppressed = "suppressed"
    unsuppressed = "unsuppressed"
    repeat = "repeat"  # a reminder: the alert is still active after the route's repeat_interval


class HistoryKind(StrEnum):
    """The ``kind`` column of ``alert_history``."""

    created = "created"
    severity = "severity"
    status = "status"
    ack = "ack"
    unack = "unack"
    note = "note"


class Action(StrEnum):
    """What an operator (or housekeeping) can do to an alert."""

    ack = "ack"
    unack = "unack"
    resolve = "resolve"
    note = "note"
    expire = "expire"
