"""Domain types shared by every pipeline stage: the normalized event and the alert vocabulary."""

from opsconductor.model.alert import AlertStatus, Outcome
from opsconductor.model.event import SEVERITY_RANK, NormalizedEvent, Severity

__all__ = ["SEVERITY_RANK", "AlertStatus", "NormalizedEvent", "Outcome", "Severity"]
