"""Domain types shared by every pipeline stage: the normalized event, the alert vocabulary,
the correlate -> store contract and the alert state machine (all pure, no I/O)."""

from opsconductor.model.alert import Action, AlertStatus, HistoryKind, Outcome, TransitionKind
from opsconductor.model.event import SEVERITY_RANK, NormalizedEvent, Severity

__all__ = ["SEVERITY_RANK", "Action", "AlertStatus", "HistoryKind", "NormalizedEvent", "Outcome", "Severity",
           "TransitionKind"]
