"""Collection failures as alerts: one per target, source and kind of failure (pure functions).

A failed poll raises ``collection_<kind>`` (component ``<addon>/<source>``), or the manifest's
``on_unreachable`` event for ``unreachable``; every failed poll re-asserts it; a failure of
another kind clears the previous one; the first poll that works clears it, and clears any the
alert table still has open for this job (after a restart or reload the poll state is gone).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from opsconductor.errors import SourceError
from opsconductor.model.event import NormalizedEvent, Severity
from opsconductor.sources.credentials import CredentialError
from opsconductor.sources.job import PollJob

OpenKey = tuple[str, str, str]  # (resource, event, component or "") of an open alert

FAILURES = ("unreachable", "timeout", "auth_failure", "missing_credential", "parse_failure", "http_error",
            "snmp_error", "error_answer", "error")
"""Collection-failure kinds; each is its own alert ``collection_<kind>`` on the target."""


def failure_kind(exc: BaseException) -> str:
    if isinstance(exc, CredentialError):
        return "missing_credential"
    if isinstance(exc, SourceError):
        return exc.failure
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "error"


def failure_event(poll: PollJob, kind: str) -> tuple[str, str | None, Severity, str]:
    """(event, component, severity, summary) of a collection failure of this job."""
    spec = poll.common.on_unreachable
    t, where = poll.target.name, f"{poll.addon}/{poll.common.name}"
    if kind == "unreachable" and spec:
        return (spec.get("event", "device_unreachable"), None, Severity(spec.get("severity", "major")),
                spec.get("summary") or f"{t} does not answer {poll.common.kind}")
    return (f"collection_{kind}", where, Severity.major,
            f"{t}: {where} cannot be collected ({kind.replace('_', ' ')})")


def _event(poll: PollJob, now: datetime, event: str, component: str | None, severity: Severity,
           summary: str, kind: str) -> NormalizedEvent:
    return NormalizedEvent(
        resource=poll.target.name, event=event, component=component, severity=severity, summary=summary,
        labels={**poll.target.labels, "failure": kind, "protocol": poll.common.kind},
        source=f"{poll.addon}/{poll.common.name}", occurred_at=now,
    )


def failure_raised(poll: PollJob, now: datetime, kind: str, reason: str) -> list[NormalizedEvent]:
    """The failure's alert, re-asserted every failed poll; a different earlier failure is cleared."""
    event, component, sev, summary = failure_event(poll, kind)
    out = []
    prev = poll.state.get("_failure")
    if prev is not None and (prev[0], prev[1]) != (event, component):
        out.append(_event(poll, now, prev[0], prev[1], Severity.clear,
                          f"{poll.target.name}: {prev[2].replace('_', ' ')} ended", prev[2]))
    poll.state["_failure"] = (event, component, kind)
    out.append(_event(poll, now, event, component, sev, f"{summary}: {reason}", kind))
    return out


def failure_cleared(poll: PollJob, now: datetime, open_keys: Collection[OpenKey]) -> list[NormalizedEvent]:
    """Collection works: clear the failure it raised, and any of this job's the alert table has open."""
    out = []
    prev = poll.state.pop("_failure", None)
    done = set()
    again = f"{poll.target.name} answers {poll.common.kind} again"
    if prev is not None:
        out.append(_event(poll, now, prev[0], prev[1], Severity.clear, again, prev[2]))
        done.add((prev[0], prev[1] or ""))
    if open_keys:
        for kind in FAILURES:
            event, component, _, _ = failure_event(poll, kind)
            ident = (event, component or "")
            if ident not in done and (poll.target.name, *ident) in open_keys:
                done.add(ident)
                out.append(_event(poll, now, event, component, Severity.clear, again, kind))
    return out
