"""Our alerts and silences in the shapes of Alertmanager's API v2 (pure).

Source of the shapes: ``api/v2/openapi.yaml`` of prometheus/alertmanager (gettableAlert,
alertGroup, gettableSilence, alertmanagerStatus). An acknowledgement has no Alertmanager
equivalent: it shows as annotations ``acknowledged_by`` / ``acknowledged_at`` on an alert
whose state stays ``active`` (it is not a silence). A suppression shows as state
``suppressed``: by an API silence -> ``silencedBy: [its id]``; by anything else (maintenance
window, inhibition, flapping, correlation) -> ``inhibitedBy`` (the inhibiting alert's
fingerprint when it is open, else the reason text).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from opsconductor.api.am_matchers import (
    ANNOTATION_PREFIX,
    BOOKKEEPING_LABELS,
    AmMatcher,
    from_silence_matchers,
)
from opsconductor.errors import NotFound

ZERO_TIME = "0001-01-01T00:00:00.000Z"  # Go's zero time: "no end known", as Alertmanager sends it
UNROUTED = "unrouted"  # the receiver of alerts no notify route takes (Alertmanager always has one)
_SILENCE_UUID = re.compile(r"^0{8}-0{4}-0{4}-0{4}-(\d{12})$")
_SILENCE_REASON = re.compile(r"^silence (\d+):")
_INHIBIT_REASON = re.compile(r"^inhibited by (.+) on (.+) \(rule [^)]*\)$")


class Receiver(msgspec.Struct):
    name: str


class AlertStatus(msgspec.Struct):
    state: str
    silencedBy: list[str]  # Alertmanager's field names
    inhibitedBy: list[str]


class GettableAlert(msgspec.Struct, omit_defaults=True):
    labels: dict[str, str]
    annotations: dict[str, str]
    receivers: list[Receiver]
    fingerprint: str
    startsAt: str
    updatedAt: str
    endsAt: str
    status: AlertStatus
    generatorURL: str | None = msgspec.field(default=None)


class AlertGroup(msgspec.Struct):
    labels: dict[str, str]
    receiver: Receiver
    alerts: list[GettableAlert]


class Matcher(msgspec.Struct):
    name: str
    value: str
    isRegex: bool
    isEqual: bool = True


class SilenceStatus(msgspec.Struct):
    state: str


class GettableSilence(msgspec.Struct):
    id: str
    status: SilenceStatus
    updatedAt: str
    matchers: list[Matcher]
    startsAt: str
    endsAt: str
    createdBy: str
    comment: str


class PostableSilence(msgspec.Struct):
    matchers: list[Matcher]
    startsAt: datetime
    endsAt: datetime
    createdBy: str
    comment: str
    id: str | None = None


class SilenceCreated(msgspec.Struct):
    silenceID: str


class PeerStatus(msgspec.Struct):
    name: str
    address: str


class ClusterStatus(msgspec.Struct):
    status: str
    name: str
    peers: list[PeerStatus]


class VersionInfo(msgspec.Struct):
    version: str
    revision: str
    branch: str
    buildUser: str
    buildDate: str
    goVersion: str


class AmConfig(msgspec.Struct):
    original: str


class AlertmanagerStatus(msgspec.Struct):
    cluster: ClusterStatus
    versionInfo: VersionInfo
    config: AmConfig
    uptime: str


def iso(v: datetime | None) -> str:
    if v is None:
        return ZERO_TIME
    return v.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- silence ids: ours are integers, Alertmanager's are UUIDs -------------------------------------
def silence_uuid(silence_id: int) -> str:
    """Our silence 42 is ``00000000-0000-0000-0000-000000000042``: a valid UUID that reads as 42."""
    return f"00000000-0000-0000-0000-{silence_id:012d}"


def silence_id_of(text: str) -> int:
    m = _SILENCE_UUID.match(text.strip().lower())
    if m:
        return int(m.group(1))
    if text.strip().isdigit():
        return int(text.strip())
    raise NotFound(f"silence {text} not found")


# -- alerts ----------------------------------------------------------------------------------------
def am_labels(row: Mapping[str, Any]) -> dict[str, str]:
    """The Alertmanager label set of one of our alerts (see am_matchers for the names)."""
    out = {k: v for k, v in (row.get("labels") or {}).items()  # Alertmanager has no empty labels
           if v and not k.startswith(ANNOTATION_PREFIX) and k not in BOOKKEEPING_LABELS}
    out["alertname"] = row["event"]
    out["resource"] = row["resource"]
    for name in ("component", "severity", "source"):
        if row.get(name):
            out[name] = str(row[name])
    return out


def _annotations(row: Mapping[str, Any], alert_url: str) -> dict[str, str]:
    out = {k[len(ANNOTATION_PREFIX):]: v for k, v in (row.get("labels") or {}).items()
           if k.startswith(ANNOTATION_PREFIX)}
    if row.get("summary"):
        out["summary"] = row["summary"]
    out["opsconductor_id"] = str(row["id"])
    out["opsconductor_status"] = row["status"]
    out["opsconductor_url"] = alert_url
    if row.get("duplicate_count"):
        out["duplicate_count"] = str(row["duplicate_count"])
    if row.get("status") == "acknowledged":
        out["acknowledged"] = "true"
        out["acknowledged_by"] = row.get("acknowledged_by") or ""
        out["acknowledged_at"] = iso(row.get("acknowledged_at"))
    if row.get("suppressed_reason"):
        out["suppressed_reason"] = row["suppressed_reason"]
    return out


def alert_status(row: Mapping[str, Any], open_by_event: Mapping[tuple[str, str], str]) -> AlertStatus:
    reason = row.get("suppressed_reason")
    if row.get("status") != "suppressed" or not reason:
        return AlertStatus("active", [], [])
    m = _SILENCE_REASON.match(reason)
    if m:
        return AlertStatus("suppressed", [silence_uuid(int(m.group(1)))], [])
    m = _INHIBIT_REASON.match(reason)
    if m and (m.group(1), m.group(2)) in open_by_event:
        return AlertStatus("suppressed", [], [open_by_event[(m.group(1), m.group(2))]])
    return AlertStatus("suppressed", [], [reason])


def gettable_alert(row: Mapping[str, Any], receivers: Sequence[str], open_by_event: Mapping[tuple[str, str], str],
                   base_url: str) -> GettableAlert:
    generator = (row.get("labels") or {}).get("generator_url")
    return GettableAlert(
        labels=am_labels(row), annotations=_annotations(row, f"{base_url.rstrip('/')}/api/v1/alerts/{row['id']}"),
        receivers=[Receiver(r) for r in (receivers or [UNROUTED])], fingerprint=row["fingerprint"],
        startsAt=iso(row["first_seen"]), updatedAt=iso(row.get("updated_at") or row["last_seen"]),
        endsAt=iso(row.get("expires_at")), status=alert_status(row, open_by_event), generatorURL=generator)


def keep(alert: GettableAlert, matchers: Sequence[AmMatcher], *, active: bool, silenced: bool, inhibited: bool,
         receiver: re.Pattern[str] | None) -> bool:
    """Alertmanager's alert filter: matchers on labels, a receiver regex, and the state switches."""
    if receiver is not None and not any(receiver.fullmatch(r.name) for r in alert.receivers):
        return False
    if not all(m.matches(alert.labels) for m in matchers):
        return False
    st = alert.status
    if not active and st.state == "active":
        return False
    if not silenced and st.silencedBy:
        return False
    return inhibited or not st.inhibitedBy


def group_labels(group_by: Sequence[str], labels: Mapping[str, str]) -> dict[str, str]:
    """The labels naming an alert's group on a route (``...`` = one group per alert)."""
    from opsconductor.api.am_matchers import label_of

    if tuple(group_by) == ("...",):
        return dict(labels)
    out: dict[str, str] = {}
    for f in group_by:
        name = label_of(f)
        if labels.get(name):
            out[name] = labels[name]
    return out


# -- silences --------------------------------------------------------------------------------------
def silence_state(row: Mapping[str, Any], now: datetime) -> str:
    return "pending" if row["starts_at"] > now else "active" if row["ends_at"] > now else "expired"


def gettable_silence(row: Mapping[str, Any], now: datetime) -> GettableSilence:
    matchers, notes = from_silence_matchers(row["matchers"])
    comment = row["comment"]
    if notes:  # conditions of our matcher language Alertmanager has no words for
        comment += f" [also: {'; '.join(notes)}]"
    ended = row.get("ended_by") is not None
    return GettableSilence(
        id=silence_uuid(row["id"]), status=SilenceStatus(silence_state(row, now)),
        updatedAt=iso(row["ends_at"] if ended else row["created_at"]),
        matchers=[Matcher(m.name, m.value, m.is_regex, m.is_equal) for m in matchers],
        startsAt=iso(row["starts_at"]), endsAt=iso(row["ends_at"]), createdBy=row["created_by"], comment=comment)


def silence_matches_filter(silence: GettableSilence, matchers: Sequence[AmMatcher]) -> bool:
    """Alertmanager's silence filter: each filter matcher tests the value the silence gives that name."""
    given = {m.name: m.value for m in silence.matchers}
    for m in matchers:
        present = m.name in given
        if m.value == "" and present != m.is_equal:
            continue  # `x=""` keeps silences without x; `x!=""` keeps those with it
        if (m.is_equal and not present) or not m.matches(given):
            return False
    return True
