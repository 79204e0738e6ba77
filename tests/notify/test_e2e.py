"""Done when: an event reaches Slack-, PagerDuty- and Jira-shaped receivers, and ack and resolve follow
on the same thread, incident and ticket."""

from __future__ import annotations

from tests.notify.conftest import NotifyServer, eventually
from tests.notify.support import JiraFake, PagerDutyFake, SlackFake, serving

CONFIG = """
receivers:
  chat: {{kind: slack, token: env:OC_TEST_SLACK_TOKEN, channel: "#noc", api_url: "{slack}/api"}}
  pager: {{kind: pagerduty, routing_key: env:OC_TEST_PD_KEY, url: "{pd}/v2/enqueue"}}
  tickets: {{kind: jira, url: "{jira}", user: bot@example.com, token: env:OC_TEST_JIRA_TOKEN, project: NET}}
route:
  receiver: chat
  group_by: ["..."]
  group_wait: 0s
  group_interval: 0s
  routes:
    - match: {{severity: [critical, major]}}
      receiver: pager
      continue: true
    - match: {{labels.site: {{regex: "ams[0-9]*"}}}}
      receiver: tickets
      continue: true
    - receiver: chat
"""


async def test_event_to_slack_pagerduty_jira_then_ack_and_resolve_follow(notify_server: NotifyServer,
                                                                         monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OC_TEST_SLACK_TOKEN", "xoxb-test")
    monkeypatch.setenv("OC_TEST_PD_KEY", "R0UT1NGKEY0000000000000000000000")
    monkeypatch.setenv("OC_TEST_JIRA_TOKEN", "jira-token")
    slack, pd, jira = SlackFake(), PagerDutyFake(), JiraFake()
    async with serving(slack), serving(pd), serving(jira):
        cfg = CONFIG.format(slack=slack.url, pd=pd.url, jira=jira.url)
        async with notify_server(cfg) as srv, srv.client(srv.write_key) as c:
            ev = {"resource": "rtr1.ams", "event": "bgp_down", "severity": "critical", "labels": {"site": "ams1"}}
            r = await c.post("/api/v1/events?wait=true", json=[ev])
            alert_id = r.json()["results"][0]["alert_id"]
            await eventually(lambda: slack.messages and pd.incidents and jira.issues)
            assert (await c.post(f"/api/v1/alerts/{alert_id}/ack", json={"text": "looking"})).status_code == 200
            await eventually(lambda: len(slack.messages) == 2 and len(pd.requests) == 2
                             and jira.issues["NET-1"]["comments"])
            await c.post("/api/v1/events?wait=true", json=[{**ev, "severity": "clear"}])
            await eventually(lambda: len(slack.messages) == 3 and len(pd.requests) == 3
                             and jira.issues["NET-1"]["status"] == "Done")
            receivers = (await c.get("/api/v1/receivers")).json()["receivers"]

    first, ack, resolved = slack.messages
    assert ack["thread_ts"] == resolved["thread_ts"] == first["ts"]
    assert "ACKNOWLEDGED" in ack["text"] and "RESOLVED" in resolved["text"]
    (incident,) = pd.incidents.values()
    assert incident["events"] == ["trigger", "acknowledge", "resolve"] and incident["status"] == "resolved"
    assert list(jira.issues) == ["NET-1"]
    ack_comment, resolve_comment = jira.issues["NET-1"]["comments"]
    assert ack_comment.startswith("acknowledged by test-write") and resolve_comment.startswith("resolved")
    # the receivers API shows references, never the secrets themselves
    text = str(receivers)
    assert "env:OC_TEST_PD_KEY" in text and "R0UT1NGKEY" not in text and "xoxb-test" not in text
