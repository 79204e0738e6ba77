"""The contract between the correlate stage and the store stage.

A :class:`Correlator` turns each accepted event into a :class:`Decision`: the dedup
identity (fingerprint), the effective severity, whether the event is dropped or
suppressed and why, and the trace of rules that decided. The store applies
decisions to the alert table; it never looks at rules itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

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
    received_at: Any  # datetime; Any keeps this module free of the store's types


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


class OpenAlertView(Protocol):
    """Read access to currently open alerts, for correlators that need state (inhibition)."""

    async def open_alerts(self, **equal: str) -> Sequence[dict[str, Any]]: ...


class Correlator(Protocol):
    """The correlate stage. The spine ships :class:`DefaultCorrelator`; the rules engine replaces it."""

    @property
    def version(self) -> str: ...

    async def decide(self, batch: Sequence[AcceptedEvent]) -> list[Decision]: ...


class DefaultCorrelator:
    """No rules: fingerprint (resource, component, event), severity as sent (default warning)."""

    version = "default"

    async def decide(self, batch: Sequence[AcceptedEvent]) -> list[Decision]:
        return [
            Decision(
                event_id=a.id,
                event=a.event,
                fingerprint=default_fingerprint(a.event),
                severity=a.event.severity or Severity.warning,
                trace=({"stage": "default", "decided": "fingerprint=(resource,component,event)"},),
            )
            for a in batch
        ]
