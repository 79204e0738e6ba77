"""Two-way sync, the pure part: verify a service's webhook and read what it says (no I/O).

Each service signs (or carries a shared secret in) its webhook differently; each names the alert
by the key OpsConductor sent it. :func:`parse` checks the signature against the receiver's
``inbound_secret``, then returns an :class:`Inbound`: the key we sent (``opsconductor-<fp>-<id>``),
the action (ack, unack, resolve; None = nothing to do), who did it, and a replay key unique to the
delivery, so a replayed request is recognised and ignored.

- pagerduty: ``X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the body>`` (several may be listed, comma-
  separated); the incident's ``incident_key`` is our dedup_key; incident.acknowledged / unacknowledged /
  resolved.
- opsgenie: ``Authorization: Bearer <secret>`` (a custom header of the outgoing webhook integration);
  ``alert.alias``; Acknowledge / UnAcknowledge / Close.
- jira: ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>`` (an admin webhook's secret); our label
  on the issue; a status change to category done resolves, to in progress acknowledges.
- servicenow: ``Authorization: Bearer <secret>`` (a header of the outbound REST message); the incident's
  ``correlation_id``; state 6/7 resolves, 2 acknowledges.
- slack: ``X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:<body>">`` with a timestamp within
  5 minutes; the value of our Ack / Resolve button.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from opsconductor.errors import AuthError, InputError

KINDS = ("pagerduty", "opsgenie", "jira", "servicenow", "slack")
SERVICE = {"pagerduty": "PagerDuty", "opsgenie": "Opsgenie", "jira": "Jira", "servicenow": "ServiceNow",
           "slack": "Slack"}
REF = re.compile(r"^opsconductor-([0-9a-f]*)-([0-9]{1,18})$")
SLACK_ACTIONS = {"oc_ack": "ack", "oc_resolve": "resolve"}
SLACK_TOLERANCE_S = 300


@dataclass(frozen=True)
class Inbound:
    replay_key: str  # unique per delivery of the service's webhook
    ref: str | None  # the key we sent the service for the alert
    action: str | None  # ack | unack | resolve; None: an event we do not act on
    actor: str
    what: str  # the service's own name for the event (kept in the receipt)
    message_ts: str | None = None  # Slack: the message the button was on


def split_ref(ref: str | None) -> tuple[str, int] | None:
    """(fingerprint prefix, alert id) of one of our keys, or None."""
    m = REF.match(ref or "")
    return (m.group(1), int(m.group(2))) if m else None


def _hmac(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def _bearer(headers: Mapping[str, str], secret: str) -> None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), secret.encode()):
        raise AuthError("missing or wrong shared secret (Authorization: Bearer ...)")


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InputError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise InputError("the body must be a JSON object")
    return data


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _pagerduty(headers: Mapping[str, str], body: bytes, secret: str) -> Inbound:
    want = "v1=" + _hmac(secret, body)
    sigs = [s.strip() for s in headers.get("x-pagerduty-signature", "").split(",")]
    if not any(hmac.compare_digest(s.encode(), want.encode()) for s in sigs):
        raise AuthError("bad or missing X-PagerDuty-Signature")
    event = _json(body).get("event") or {}
    kind = str(event.get("event_type", ""))
    data = event.get("data") or {}
    agent = event.get("agent") or {}
    action = {"incident.acknowledged": "ack", "incident.unacknowledged": "unack",
              "incident.resolved": "resolve"}.get(kind)
    who = str(agent.get("summary") or agent.get("id") or "someone")
    return Inbound(f"pd:{event.get('id') or _digest(body)}", data.get("incident_key"), action, who, kind)


def _opsgenie(headers: Mapping[str, str], body: bytes, secret: str) -> Inbound:
    _bearer(headers, secret)
    data = _json(body)
    alert = data.get("alert") or {}
    kind = str(data.get("action", ""))
    action = {"Acknowledge": "ack", "UnAcknowledge": "unack", "Close": "resolve"}.get(kind)
    who = str(alert.get("username") or (data.get("source") or {}).get("name") or "someone")
    return Inbound(f"og:{_digest(body)}", alert.get("alias"), action, who, kind)


def _jira(headers: Mapping[str, str], body: bytes, secret: str) -> Inbound:
    want = "sha256=" + _hmac(secret, body)
    if not hmac.compare_digest(headers.get("x-hub-signature", "").encode(), want.encode()):
        raise AuthError("bad or missing X-Hub-Signature")
    data = _json(body)
    issue = data.get("issue") or {}
    fields = issue.get("fields") or {}
    changed = any(i.get("field") == "status" for i in (data.get("changelog") or {}).get("items") or [])
    category = str(((fields.get("status") or {}).get("statusCategory") or {}).get("key", ""))
    action = {"done": "resolve", "indeterminate": "ack"}.get(category) if changed else None
    labels = [str(x) for x in fields.get("labels") or []]
    ref = next((x for x in labels if split_ref(x)), None)
    user = data.get("user") or {}
    who = str(user.get("emailAddress") or user.get("displayName") or "someone")
    delivery = headers.get("x-atlassian-webhook-identifier") or _digest(body)
    return Inbound(f"jira:{delivery}", ref, action, who, str(data.get("webhookEvent", "")))


def _servicenow(headers: Mapping[str, str], body: bytes, secret: str) -> Inbound:
    _bearer(headers, secret)
    data = _json(body)
    state = str(data.get("state", ""))
    action = {"6": "resolve", "7": "resolve", "2": "ack"}.get(state)
    who = str(data.get("sys_updated_by") or "someone")
    updated = data.get("sys_updated_on")
    replay = f"{data.get('sys_id')}:{updated}:{state}" if updated else _digest(body)
    return Inbound(f"snow:{replay}", data.get("correlation_id"), action, who, f"state {state}")


def _slack(headers: Mapping[str, str], body: bytes, secret: str, now: float) -> Inbound:
    ts = headers.get("x-slack-request-timestamp", "")
    if not ts.isdigit() or abs(now - int(ts)) > SLACK_TOLERANCE_S:
        raise AuthError("missing or stale X-Slack-Request-Timestamp")
    want = "v0=" + _hmac(secret, f"v0:{ts}:".encode() + body)
    if not hmac.compare_digest(headers.get("x-slack-signature", "").encode(), want.encode()):
        raise AuthError("bad or missing X-Slack-Signature")
    try:
        payload = json.loads(parse_qs(body.decode())["payload"][0])
    except (KeyError, ValueError, UnicodeDecodeError):
        raise InputError("expected a form body with a JSON 'payload'") from None
    actions = payload.get("actions") or [{}]
    act = actions[0]
    user = payload.get("user") or {}
    who = str(user.get("username") or user.get("name") or user.get("id") or "someone")
    msg_ts = (payload.get("container") or {}).get("message_ts") or (payload.get("message") or {}).get("ts")
    replay = f"{act.get('action_ts') or payload.get('trigger_id') or _digest(body)}"
    return Inbound(f"slack:{replay}", act.get("value"), SLACK_ACTIONS.get(str(act.get("action_id"))), who,
                   str(act.get("action_id", "")), msg_ts)


def parse(kind: str, headers: Mapping[str, str], body: bytes, secret: str, *, now: float) -> Inbound:
    """Verify and read one inbound webhook; AuthError (401) when it is not authentic, InputError (400)."""
    if not secret:
        raise AuthError("this receiver has no inbound secret")
    if kind == "slack":
        return _slack(headers, body, secret, now)
    parsers = {"pagerduty": _pagerduty, "opsgenie": _opsgenie, "jira": _jira, "servicenow": _servicenow}
    if kind not in parsers:
        raise InputError(f"receivers of kind {kind} do not take inbound changes")
    return parsers[kind](headers, body, secret)


def history_text(action: str, who: str, kind: str) -> str:
    verb = {"ack": "acknowledged", "unack": "unacknowledged", "resolve": "resolved"}[action]
    return f"{verb} by {who} in {SERVICE.get(kind, kind)}"
