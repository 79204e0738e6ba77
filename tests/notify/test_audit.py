"""The per-alert delivery audit: GET /api/v1/alerts/{id}/notifications lists every attempt."""

from __future__ import annotations

from tests.notify.conftest import NotifyServer, eventually
from tests.notify.support import JiraFake, serving
from tests.notify.test_reliability import TIMING, rows, send

EV = {"resource": "rtr1.ams", "event": "link_down", "component": "ge-0/0/1", "severity": "major"}
CFG = """
receivers:
  tickets: {{kind: jira, url: "{url}", user: bot@example.com, token: jira-token, project: NET,
            templates: {{title: "JIRA {{{{ alert.resource }}}} {{{{ transition }}}}"}}}}
route:
  receiver: tickets
  {timing}
"""


async def test_every_attempt_is_listed_with_what_was_sent_and_what_came_back(notify_server: NotifyServer) -> None:
    jira = JiraFake()
    jira.script = [(503, {}, b"jira is busy")]  # the first attempt fails at the search
    async with serving(jira), notify_server(CFG.format(url=jira.url, timing=TIMING)) as srv:
        (alert_id,) = await send(srv, EV)
        await eventually(lambda: rows(srv, status="sent"))
        async with srv.client(srv.write_key) as c:
            assert (await c.post(f"/api/v1/alerts/{alert_id}/ack", json={})).status_code == 200

        async def both_sent() -> bool:
            return len(await rows(srv, alert_id=alert_id, status="sent")) == 2

        await eventually(both_sent)
        async with srv.client(srv.read_key) as c:
            r = await c.get(f"/api/v1/alerts/{alert_id}/notifications")
            missing = await c.get("/api/v1/alerts/999999/notifications")
    assert r.status_code == 200, r.text
    audit = r.json()
    assert [n["transition"] for n in audit["notifications"]] == ["firing", "acknowledged"]
    tries = audit["attempts"]
    assert [(a["transition"], a["outcome"], a["status_code"]) for a in tries] == [
        ("firing", "retry", 503), ("firing", "sent", 201), ("acknowledged", "sent", 201)]
    assert tries[0]["error"] == "HTTP 503: jira is busy"
    assert [a["external_id"] for a in tries[1:]] == ["NET-1", "NET-1"]
    assert tries[1]["summary"] == "JIRA rtr1.ams firing" and tries[2]["summary"] == "JIRA rtr1.ams acknowledged"
    assert all(a["receiver"] == "tickets" and a["at"] and a["duration_ms"] >= 0 for a in tries)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
