"""The contract between the correlate stage and the store stage (data only).

A correlator turns each :class:`AcceptedEvent` into a :class:`Decision`: the dedup
identity (fingerprint), the effective severity, whether the event is dropped or
suppressed and why, and the trace of rules that decided. The store applies decisions
to the alert table through the state machine (``model/lifecycle.py``); it never looks
at rules itself. Living in ``model/`` keeps the import arrows one way:
correlate -> model <- store.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opsconductor.model.event import NormalizedEvent, Severity


def fingerprint(*parts: str | None) -> str:
    """The dedup identity of a set of field values: a stable SHA-256 hex digest."""
    h = hashlib.sha256()
    for p in parts:
        h.update(b"\x00" if p is None else p.encode("utf-8") + b"\x01")
        h.update(b"\x1f")
    return h.hexdigest()


def default_fingerprint(event: NormalizedEvent) -> str:
    """Fingerprint when no rule decides one: (resource, component, event)."""
    return fingerprint(event.resource, event.component, event.event)


@dataclass(frozen=True, slots=True)
class AcceptedEvent:
    """An event as stored in the event log: its id there, and when it was received."""

    id: int
    event: NormalizedEvent
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    """What the correlate stage decided for one accepted event."""

    event_id: int
    event: NormalizedEvent
    fingerprint: str
    severity: Severity
    drop: bool = False
    suppressed_reason: str | None = None
    rule_id: str | None = None
    ruleset_version: str = "default"
    timeout: int | None = None  # seconds unseen before expired; None: the server default
    # the correlation parent (its fingerprint) this alert is a child of, open or not yet raised
    parent_fingerprint: str | None = None
    trace: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def is_clear(self) -> bool:
        return self.severity is Severity.clear


@dataclass(frozen=True, slots=True)
class Decided:
    """A correlator's answer for a batch: one decision per event, in order, and the events it
    derived (correlation parents raised or cleared), which the pipeline accepts into the event
    log in the same transaction (the one accept path every producer uses)."""

    decisions: list[Decision]
    derived: list[NormalizedEvent] = field(default_factory=list)
    # the open alerts of the batch's (non-dropped) fingerprints, when the correlator loaded them
    # for update (the store then does not load them again)
    open_rows: dict[str, dict[str, Any]] | None = None
