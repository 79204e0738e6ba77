"""Each receiver against a local fake of its service: the documented request shapes and the ticket lifecycle."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from opsconductor.notify.config import parse_config
from opsconductor.notify.receivers.base import Delivery, Item, Result
from opsconductor.notify.service import build_sender
from tests.notify.support import (
    FakeService,
    JiraFake,
    OpsgenieFake,
    PagerDutyFake,
    ServiceNowFake,
    SlackFake,
    TeamsFake,
    serving,
)

ALERT = {"id": 7, "fingerprint": "ab12cd34ef56ab12cd34", "resource": "rtr1.ams", "event": "link_down",
         "component": "ge-0/0/1", "severity": "major", "status": "active", "summary": "Link down",
         "value": 3, "labels": {"site": "ams"}, "first_seen": "2026-01-01T00:00:00+00:00",
         "last_seen": "2026-01-01T00:00:00+00:00"}


def sender_for(kind_yaml: str) -> Any:
    cfg = parse_config(f"receivers:\n  r: {kind_yaml}\nroute: {{receiver: r}}\n")
    return build_sender(cfg.receivers["r"])


class Thread:
    """Plays the worker's part: keeps the receiver's reference between transitions."""

    def __init__(self, sender: Any):
        self.sender = sender
        self.ref: dict[str, Any] = {}
        self.n = 0

    async def send(self, client: httpx.AsyncClient, transition: str, **alert: Any) -> Result:
        self.n += 1
        a = {**ALERT, **alert}
        item = Item(self.n, 7, transition, f"oc-7-r-{self.n}-{transition}",
                    {"alert": a, "transition": transition, "actor": "alice", "note": None},
                    dict(self.ref), [], {"alert": "http://127.0.0.1:8080/api/v1/alerts/7"})
        result: Result = await self.sender.send(client, Delivery([item], item.idem_key, "g"))
        self.ref.update(result.ext_ref.get(7, {}))
        return result


async def lifecycle(svc: FakeService, kind_yaml: str) -> Thread:
    async with serving(svc), httpx.AsyncClient() as client:
        t = Thread(sender_for(kind_yaml.format(url=svc.url)))
        for tr, extra in (("firing", {}), ("acknowledged", {"status": "acknowledged"}),
                          ("resolved", {"status": "resolved", "severity": "clear"})):
            r = await t.send(client, tr, **extra)
            assert r.ok, r.error
    return t


async def test_pagerduty_trigger_ack_resolve_share_dedup_key() -> None:
    pd = PagerDutyFake()
    await lifecycle(pd, '{{kind: pagerduty, routing_key: "R0UT1NGKEY", url: "{url}/v2/enqueue"}}')
    actions = [r.json()["event_action"] for r in pd.requests]
    assert actions == ["trigger", "acknowledge", "resolve"]
    assert len(pd.incidents) == 1 and next(iter(pd.incidents.values()))["status"] == "resolved"
    trig = pd.requests[0].json()
    assert trig["payload"]["severity"] == "error" and trig["payload"]["source"] == "rtr1.ams"
    assert trig["routing_key"] == "R0UT1NGKEY" and trig["links"][0]["href"].endswith("/alerts/7")


async def test_opsgenie_create_ack_close_by_alias() -> None:
    og = OpsgenieFake()
    await lifecycle(og, '{{kind: opsgenie, api_key: genie-key, url: "{url}", tags: [network]}}')
    (alert,) = og.alerts.values()
    assert alert["status"] == "closed" and alert["acknowledged"] and alert["count"] == 1
    assert alert["body"]["priority"] == "P2" and "network" in alert["body"]["tags"]
    assert [r.path.rsplit("/", 1)[-1] for r in og.requests] == ["alerts", "acknowledge", "close"]


async def test_jira_issue_comment_and_done_transition() -> None:
    jira = JiraFake()
    t = await lifecycle(jira, '{{kind: jira, url: "{url}", user: bot@example.com, token: jira-token, project: NET}}')
    assert t.ref == {"issue_key": "NET-1"}
    (issue,) = jira.issues.values()
    assert issue["status"] == "Done" and issue["fields"]["issuetype"] == {"name": "Task"}
    assert any(c.startswith("acknowledged by alice") for c in issue["comments"])


async def test_jira_retry_after_lost_answer_finds_the_issue() -> None:
    jira = JiraFake()
    async with serving(jira), httpx.AsyncClient() as client:
        t = Thread(sender_for(f'{{kind: jira, url: "{jira.url}", user: bot@example.com, token: jira-token}}'))
        assert (await t.send(client, "firing")).ok
        t.ref.clear()  # the answer was lost: we never stored the key
        assert (await t.send(client, "firing")).ok
        assert len(jira.issues) == 1 and t.ref == {"issue_key": "OPS-1"}


async def test_jira_data_center_falls_back_to_legacy_search() -> None:
    jira = JiraFake(cloud=False)
    t = await lifecycle(jira, '{{kind: jira, url: "{url}", user: bot@example.com, token: jira-token}}')
    assert t.ref == {"issue_key": "OPS-1"} and jira.issues["OPS-1"]["status"] == "Done"
    paths = [r.path for r in jira.requests if "search" in r.path]
    assert paths == ["/rest/api/2/search/jql", "/rest/api/2/search"]  # learnt once, then remembered


async def test_jira_lost_create_answer_waits_for_search_consistency() -> None:
    jira = JiraFake()
    jira.lose_create_answers = 1
    async with serving(jira), httpx.AsyncClient() as client:
        yaml = f'{{kind: jira, url: "{jira.url}", user: bot@example.com, token: jira-token, create_retry_delay: 20s}}'
        r = await Thread(sender_for(yaml)).send(client, "firing")
    assert not r.ok and r.retry and r.retry_after == 20.0 and len(jira.issues) == 1


async def test_servicenow_create_work_notes_resolve() -> None:
    sn = ServiceNowFake()
    t = await lifecycle(sn, '{{kind: servicenow, url: "{url}", user: svc, password: pw, assignment_group: NOC}}')
    (inc,) = sn.incidents.values()
    assert t.ref["sys_id"] == inc["sys_id"]
    assert inc["state"] == "6" and inc["close_code"] and inc["assignment_group"] == "NOC"
    assert len(inc["work_notes_log"]) == 2 and inc["correlation_id"].endswith("-7")


async def test_slack_bot_token_threads_follow_ups() -> None:
    slack = SlackFake()
    t = await lifecycle(slack, '{{kind: slack, token: xoxb-test, channel: "#noc", api_url: "{url}/api"}}')
    first, ack, res = slack.messages
    assert "thread_ts" not in first and ack["thread_ts"] == res["thread_ts"] == first["ts"]
    assert t.ref["ts"] == first["ts"] and first["blocks"][0]["type"] == "header"
    assert len(slack.updates) == 2


async def test_slack_incoming_webhook_block_kit() -> None:
    slack = SlackFake()
    await lifecycle(slack, '{{kind: slack, url: "{url}/services/T0/B0/XYZ"}}')
    assert len(slack.messages) == 3
    msg = slack.messages[0]
    assert msg["text"].startswith("[FIRING] major: link_down on rtr1.ams")
    assert {b["type"] for b in msg["blocks"]} >= {"header", "section"}


async def test_teams_adaptive_card() -> None:
    teams = TeamsFake()
    await lifecycle(teams, '{{kind: teams, url: "{url}/workflows/abc"}}')
    card = teams.cards[0]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["type"] == "TextBlock" and card["actions"][0]["type"] == "Action.OpenUrl"


async def test_mattermost_attachment() -> None:
    mm = FakeService()
    await lifecycle(mm, '{{kind: mattermost, url: "{url}/hooks/xyz", channel: noc}}')
    body = mm.requests[0].json()
    assert body["channel"] == "noc" and body["attachments"][0]["fields"][0]["title"] == "Resource"


@pytest.mark.parametrize("status,retry", [(400, False), (401, False), (404, False), (408, True), (429, True),
                                          (500, True), (503, True)])
async def test_http_status_classification(status: int, retry: bool) -> None:
    svc = FakeService()
    svc.script = [(status, {"Retry-After": "7"}, b"nope")]
    async with serving(svc), httpx.AsyncClient() as client:
        r = await Thread(sender_for(f'{{kind: webhook, url: "{svc.url}/x"}}')).send(client, "firing")
    assert not r.ok and r.retry is retry and r.status_code == status
    assert r.retry_after == 7.0


async def test_secret_in_url_never_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    svc = FakeService()
    svc.script = [(404, {}, b"no hook at /hooks/SUPERSECRETTOKEN")]  # services echo the URL back
    async with serving(svc), httpx.AsyncClient() as client:
        monkeypatch.setenv("OC_TEST_SECRET_URL", f"{svc.url}/hooks/SUPERSECRETTOKEN")
        r = await Thread(sender_for("{kind: webhook, url: env:OC_TEST_SECRET_URL}")).send(client, "firing")
        assert r.error and "no hook at" in r.error and "SUPERSECRETTOKEN" not in r.error
        monkeypatch.setenv("OC_TEST_SECRET_URL", "http://127.0.0.1:9/hooks/SUPERSECRETTOKEN")
        r = await Thread(sender_for("{kind: webhook, url: env:OC_TEST_SECRET_URL}")).send(client, "firing")
    assert not r.ok and r.retry and r.error and "SUPERSECRETTOKEN" not in r.error
