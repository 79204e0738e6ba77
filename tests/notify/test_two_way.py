"""Two-way sync: an ack or resolve in PagerDuty, Opsgenie, Jira, ServiceNow or a Slack button shows up here.

Each service's webhook is built as its documentation describes it and signed the way the service signs
(or carries its shared secret); the keys in it are the ones the fakes recorded from our own deliveries.
Checked for each: applied with who did it where, a bad signature refused (401), a replay ignored, and
the change not sent back to the service it came from.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.notify.conftest import NotifyServer, eventually
from tests.notify.support import JiraFake, OpsgenieFake, PagerDutyFake, ServiceNowFake, SlackFake, serving
from tests.notify.test_reliability import TIMING, rows, send

SECRETS = {"pd": "pd-webhook-secret", "genie": "og-shared-secret", "tickets": "jira-webhook-secret",
           "itsm": "snow-shared-secret", "chat": "slack-signing-secret"}
CFG = """
receivers:
  pd: {{kind: pagerduty, routing_key: rk-1, url: "{pd}/v2/enqueue", inbound_secret: {s[pd]}}}
  genie: {{kind: opsgenie, api_key: genie-key, url: "{og}", inbound_secret: {s[genie]}}}
  tickets: {{kind: jira, url: "{jira}", user: bot@example.com, token: jira-token, project: NET,
            inbound_secret: {s[tickets]}}}
  itsm: {{kind: servicenow, url: "{snow}", user: svc, password: pw, inbound_secret: {s[itsm]}}}
  chat: {{kind: slack, token: xoxb-test, channel: C0123, api_url: "{slack}/api", inbound_secret: {s[chat]}}}
route:
  receiver: chat
  {timing}
  routes:
    - {{receiver: pd, continue: true}}
    - {{receiver: genie, continue: true}}
    - {{receiver: tickets, continue: true}}
    - {{receiver: itsm, continue: true}}
    - {{receiver: chat}}
"""


def _mac(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def pagerduty(dedup_key: str, kind: str, secret: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"event": {
        "id": f"01EV{kind[-6:]}{dedup_key[-4:]}", "event_type": kind, "resource_type": "incident",
        "occurred_at": "2026-12-01T10:00:00.000Z",
        "agent": {"id": "PUSR1", "type": "user_reference", "summary": "jane@example.com"},
        "data": {"id": "Q1ABC", "type": "incident", "incident_key": dedup_key, "status": "acknowledged",
                 "title": "link_down on r0"}}}).encode()
    return body, {"X-PagerDuty-Signature": f"v1=deadbeef,v1={_mac(secret, body)}",
                  "Content-Type": "application/json"}


def opsgenie(alias: str, action: str, secret: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"action": action, "alert": {"alertId": "a1b2", "alias": alias, "message": "link_down",
                                                   "username": "john@example.com"},
                       "source": {"name": "web", "type": "web"}, "integrationType": "Webhook"}).encode()
    return body, {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}


def jira_event(issue_key: str, labels: list[str], secret: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"timestamp": 1764583200000, "webhookEvent": "jira:issue_updated",
                       "user": {"emailAddress": "kim@example.com", "displayName": "Kim"},
                       "issue": {"key": issue_key, "fields": {"labels": labels, "status": {
                           "name": "Done", "statusCategory": {"key": "done"}}}},
                       "changelog": {"id": "10001", "items": [{"field": "status", "fromString": "To Do",
                                                               "toString": "Done"}]}}).encode()
    return body, {"X-Hub-Signature": f"sha256={_mac(secret, body)}", "Content-Type": "application/json",
                  "X-Atlassian-Webhook-Identifier": "wh-1"}


def servicenow(inc: dict[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"sys_id": inc["sys_id"], "number": inc["number"], "correlation_id": inc["correlation_id"],
                       "state": "2", "sys_updated_by": "lee.admin",
                       "sys_updated_on": "2026-12-01 10:00:00"}).encode()
    return body, {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}


def slack_click(message: dict[str, Any], action_id: str, secret: str) -> tuple[bytes, dict[str, str]]:
    (actions,) = [b for b in message["blocks"] if b["type"] == "actions"]
    (button,) = [e for e in actions["elements"] if e["action_id"] == action_id]
    payload = {"type": "block_actions", "user": {"id": "U1", "username": "sam", "name": "sam"},
               "container": {"type": "message", "message_ts": message["ts"], "channel_id": "C0123"},
               "trigger_id": "1.2.3", "message": {"ts": message["ts"]},
               "actions": [{"action_id": action_id, "block_id": actions["block_id"], "value": button["value"],
                            "type": "button", "action_ts": "1764583200.123"}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(time.time()))
    return body, {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + _mac(secret, f"v0:{ts}:".encode()
                                                                                         + body),
                  "Content-Type": "application/x-www-form-urlencoded"}


def _tampered(headers: dict[str, str]) -> dict[str, str]:
    out = dict(headers)
    for k in ("X-PagerDuty-Signature", "X-Hub-Signature", "X-Slack-Signature"):
        if k in out:
            out[k] = out[k][:-4] + "0000"
    if "Authorization" in out:
        out["Authorization"] = "Bearer wrong"
    return out


async def test_acks_and_resolves_flow_back_from_every_service(notify_server: NotifyServer) -> None:
    pd, og, jira, snow, slack = PagerDutyFake(), OpsgenieFake(), JiraFake(), ServiceNowFake(), SlackFake()
    async with serving(pd), serving(og), serving(jira), serving(snow), serving(slack):
        cfg = CFG.format(pd=pd.url, og=og.url, jira=jira.url, snow=snow.url, slack=slack.url, s=SECRETS,
                         timing=TIMING)
        async with notify_server(cfg) as srv:
            ids = await send(srv, *({"resource": f"r{i}", "event": "link_down", "severity": "major"}
                                    for i in range(5)))

            async def all_sent() -> bool:
                return len(await rows(srv, status="sent")) == 25

            await eventually(all_sent, within=20)
            a_pd, a_og, a_jira, a_snow, a_slack = ids
            (dedup,) = [k for k in pd.incidents if k.endswith(f"-{a_pd}")]
            (alias,) = [k for k in og.alerts if k.endswith(f"-{a_og}")]
            (issue_key,) = [k for k, v in jira.issues.items()
                            if any(x.endswith(f"-{a_jira}") for x in v["fields"]["labels"])]
            (inc,) = [v for v in snow.incidents.values() if v["correlation_id"].endswith(f"-{a_snow}")]
            (msg,) = [m for m in slack.messages if any(b.get("block_id") == f"oc-{a_slack}" for b in m["blocks"])]
            webhooks = {
                "pd": pagerduty(dedup, "incident.acknowledged", SECRETS["pd"]),
                "genie": opsgenie(alias, "Close", SECRETS["genie"]),
                "tickets": jira_event(issue_key, jira.issues[issue_key]["fields"]["labels"], SECRETS["tickets"]),
                "itsm": servicenow(inc, SECRETS["itsm"]),
                "chat": slack_click(msg, "oc_ack", SECRETS["chat"]),
            }
            answers: dict[str, Any] = {}
            async with httpx.AsyncClient(base_url=srv.url) as c:  # no API key: the signature is the credential
                for name, (body, headers) in webhooks.items():
                    bad = await c.post(f"/api/v1/inbound/{name}", content=body, headers=_tampered(headers))
                    assert bad.status_code == 401, (name, bad.text)
                    assert bad.headers["content-type"].startswith("application/problem+json")
                    ok = await c.post(f"/api/v1/inbound/{name}", content=body, headers=headers)
                    assert ok.status_code == 200, (name, ok.text)
                    again = await c.post(f"/api/v1/inbound/{name}", content=body, headers=headers)
                    answers[name] = (ok.json(), again.json())
                assert (await c.post("/api/v1/inbound/nope", content=b"{}")).status_code == 404

            async with srv.client(srv.read_key) as c:
                alerts = {a: (await c.get(f"/api/v1/alerts/{a}")).json() for a in ids}
                audit = (await c.get(f"/api/v1/alerts/{a_pd}/notifications")).json()

            async def follow_ups_sent() -> list[dict[str, Any]] | None:
                got = [n for n in await rows(srv, limit=1000) if n["transition"] in ("acknowledged", "resolved")]
                return got if len(got) == 20 and all(n["status"] == "sent" for n in got) else None

            follow_ups = await eventually(follow_ups_sent, within=20)

    expect = {"pd": (a_pd, "acknowledged", "acknowledged by jane@example.com in PagerDuty"),
              "genie": (a_og, "resolved", "resolved by john@example.com in Opsgenie"),
              "tickets": (a_jira, "resolved", "resolved by kim@example.com in Jira"),
              "itsm": (a_snow, "acknowledged", "acknowledged by lee.admin in ServiceNow"),
              "chat": (a_slack, "acknowledged", "acknowledged by sam in Slack")}
    for name, (alert_id, status, text) in expect.items():
        first, replay = answers[name]
        assert first == {"receiver": name, "alert_id": alert_id, "action": first["action"], "outcome": text}
        assert replay["outcome"] == "duplicate: already applied"
        alert = alerts[alert_id]
        assert alert["status"] == status
        mine = [h for h in alert["history"] if h["text"] == text]
        assert len(mine) == 1  # the replay added nothing
        # loop-free: every receiver but the one the change came from hears about it
        told = sorted(n["receiver"] for n in follow_ups if n["alert_id"] == alert_id)
        assert told == sorted(set(SECRETS) - {name}), (name, told)
    assert alerts[a_pd]["acknowledged_by"] == "jane@example.com (PagerDuty)"
    assert pd.incidents[dedup]["events"] == ["trigger"]  # PagerDuty was not told its own ack back
    assert og.alerts[alias]["status"] == "open"  # nor Opsgenie its own close
    assert jira.issues[issue_key]["comments"] == []
    assert [i["outcome"] for i in audit["inbound"]] == ["acknowledged by jane@example.com in PagerDuty"]
