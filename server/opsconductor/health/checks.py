"""What the self-monitor observes, and the self-alerts that follows from it: pure functions.

Each self-alert is keyed by (resource, event) — the default fingerprint — so raising it
again only bumps the open alert, and a ``clear`` with the same key resolves it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from opsconductor.model.event import NormalizedEvent, Severity

SOURCE = "opsconductor"
Key = tuple[str, str]  # (resource, event)


@dataclass(frozen=True, slots=True)
class SelfAlert:
    resource: str
    event: str
    severity: Severity
    summary: str

    @property
    def key(self) -> Key:
        return (self.resource, self.event)

    def as_event(self) -> NormalizedEvent:
        return NormalizedEvent(resource=self.resource, event=self.event, severity=self.severity,
                               summary=self.summary[:4096], source=SOURCE)


def clear_event(key: Key) -> NormalizedEvent:
    return NormalizedEvent(resource=key[0], event=key[1], severity=Severity.clear, source=SOURCE,
                           summary="the fault is gone")


@dataclass
class Observation:
    """One look at the server's own state (all times UTC)."""

    now: datetime
    oldest_unprocessed: datetime | None = None
    backlog: int = 0
    quarantined: int = 0
    rules_errors: list[str] = field(default_factory=list)
    rules_dir: str = "rules"
    sources_errors: list[str] = field(default_factory=list)
    addons_dir: str = "addons"
    notify_error: str | None = None
    notify_file: str = "rules/notify.yaml"
    receivers_failing: dict[str, str] = field(default_factory=dict)  # receiver -> why
    trap_error: str | None = None
    db_outage: str | None = None  # a past outage, reported once the database is usable again
    overdue_expiry: int = 0  # open alerts past their expiry by more than the grace: housekeeping stalled
    expiry_grace_s: float = 0.0


_WHERE = re.compile(r"^(?P<file>[^\n]+?):\d+(?::\d+)?: ")


def _by_file(errors: list[str], default: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in errors:
        m = _WHERE.match(e)
        out.setdefault(m.group("file") if m else default, []).append(e)
    return out


def stalled(obs: Observation, stall_s: float) -> str | None:
    """Why processing counts as stalled (its oldest waiting event is older than ``stall_s``), or None."""
    if obs.oldest_unprocessed is None or obs.now - obs.oldest_unprocessed <= timedelta(seconds=stall_s):
        return None
    since = obs.oldest_unprocessed.isoformat(timespec="seconds").replace("+00:00", "Z")
    return f"event processing stalled: events wait longer than {stall_s:g}s (the oldest since {since})"


def self_alerts(obs: Observation, *, stall_s: float) -> dict[Key, SelfAlert]:
    """Every self-alert that should be open now."""
    found: list[SelfAlert] = []
    if why := stalled(obs, stall_s):
        found.append(SelfAlert("event-processing", "processing_stalled", Severity.critical, why))
    if obs.quarantined:
        found.append(SelfAlert("event-quarantine", "events_quarantined", Severity.major,
                               f"{obs.quarantined} events quarantined: processing them failed; "
                               "see GET /api/v1/events/quarantine"))
    for path, errs in _by_file(obs.rules_errors, obs.rules_dir).items():
        found.append(SelfAlert(path, "rules_reload_refused", Severity.major,
                               "rules reload refused, the running set stays: " + "; ".join(errs[:5])))
    for path, errs in _by_file(obs.sources_errors, obs.addons_dir).items():
        found.append(SelfAlert(path, "addon_reload_refused", Severity.major,
                               "addon/inventory file refused, its last good version stays: " + "; ".join(errs[:5])))
    if obs.notify_error:
        found.append(SelfAlert(obs.notify_file, "notify_reload_refused", Severity.major,
                               "notify config reload refused, the running one stays: " + obs.notify_error))
    for name, why in obs.receivers_failing.items():
        found.append(SelfAlert(f"receiver/{name}", "receiver_failing", Severity.major, why))
    if obs.trap_error:
        found.append(SelfAlert("trap-listener", "listener_not_bound", Severity.critical,
                               f"SNMP trap receiver not listening: {obs.trap_error}"))
    if obs.overdue_expiry:
        found.append(SelfAlert("housekeeping", "expiry_stalled", Severity.major,
                               f"open alerts are past their timeout by more than {obs.expiry_grace_s:g}s and not "
                               "expired: housekeeping is not running or fails (see the log)"))
    if obs.db_outage:
        found.append(SelfAlert("database", "database_unavailable", Severity.major, obs.db_outage))
    return {a.key: a for a in found}


def plan(sent: Mapping[Key, SelfAlert | None], wanted: Mapping[Key, SelfAlert]) -> tuple[list[SelfAlert], list[Key]]:
    """What to send: new or changed self-alerts, and clears for those no longer wanted."""
    raise_ = [a for k, a in wanted.items() if sent.get(k) != a]
    clear = [k for k in sent if k not in wanted]
    return raise_, clear
