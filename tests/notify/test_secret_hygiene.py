"""Secrets never logged or shown: an upstream that echoes everything, then a scan of logs and API answers.

The echo server answers 500 with the request line, every header and the body, also URL-encoded and
base64-encoded, as some proxies and error pages do. Every secret form (literal, URL-encoded, base64,
``Basic`` credentials, the incoming-webhook URL path) must be absent from every log record (at DEBUG)
and every API answer that shows errors.
"""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import quote, quote_plus

import pytest

from tests.notify.conftest import NotifyServer, eventually
from tests.notify.support import FakeService, Req, Response, serving
from tests.notify.test_reliability import TIMING, rows, send

SLACK_PATH = "/services/T0SECRET1/B0SECRET2/slackSecretPathXyZ123"
JIRA_USER, JIRA_TOKEN = "bot@example.com", "jiraTokenS3cret-ABC"
GENIE_KEY = "genie-secret-key-77e1"
HMAC_KEY = "hmacSigningSecret991"
HEADER_TOKEN = "headerTokenSecret-42"


class Echo(FakeService):
    def handle(self, req: Req) -> Response:
        target = req.path + ("?" + "&".join(f"{k}={v[0]}" for k, v in req.query.items()) if req.query else "")
        seen = json.dumps({"method": req.method, "target": target, "headers": req.headers,
                           "body": req.body.decode(errors="replace")})
        body = (f"upstream error, you sent: {seen} | urlencoded: {quote(seen, safe='')} | "
                f"b64: {base64.b64encode(seen.encode()).decode()}")
        return 500, {"Content-Type": "text/plain"}, body.encode()


def secret_forms(echo_url: str) -> list[str]:
    basic = base64.b64encode(f"{JIRA_USER}:{JIRA_TOKEN}".encode()).decode()
    values = [echo_url + SLACK_PATH, SLACK_PATH, JIRA_TOKEN, GENIE_KEY, HEADER_TOKEN, basic, "T0SECRET1",
              "slackSecretPathXyZ123"]
    out = set()
    for v in values:
        out.update({v, quote(v, safe=""), quote_plus(v), base64.b64encode(v.encode()).decode().rstrip("=")})
    return sorted(out)


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("I13_JIRA_TOKEN", JIRA_TOKEN)
    monkeypatch.setenv("I13_GENIE_KEY", GENIE_KEY)
    monkeypatch.setenv("I13_HMAC", HMAC_KEY)
    monkeypatch.setenv("I13_HEADER", HEADER_TOKEN)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)  # renders exc_text too
        self.records.append(record)


async def test_no_secret_form_in_logs_or_api_answers(notify_server: NotifyServer, secrets_env: None) -> None:
    echo = Echo()
    captured = Records()
    root = logging.getLogger()
    async with serving(echo):
        cfg = f"""
receivers:
  chat: {{kind: slack, url: "{echo.url}{SLACK_PATH}", max_age: 1s}}
  tickets: {{kind: jira, url: "{echo.url}", user: {JIRA_USER}, token: env:I13_JIRA_TOKEN, max_age: 1s}}
  genie: {{kind: opsgenie, api_key: env:I13_GENIE_KEY, url: "{echo.url}", max_age: 1s}}
  hook: {{kind: webhook, url: "{echo.url}/h", signing_secret: env:I13_HMAC, headers: {{X-Token: env:I13_HEADER}},
         max_age: 1s}}
route:
  receiver: chat
  {TIMING}
  routes:
    - {{receiver: tickets, continue: true}}
    - {{receiver: genie, continue: true}}
    - {{receiver: hook, continue: true}}
    - {{receiver: chat}}
"""
        async with notify_server(cfg) as srv:
            level = root.level
            root.addHandler(captured)  # after start-up: the server's own logging setup is in place
            root.setLevel(logging.DEBUG)  # the worst case: an operator turned on debug logging
            try:
                (alert_id,) = await send(srv, {"resource": "rtr1", "event": "down", "severity": "major"})

                async def all_dead() -> bool:
                    got = await rows(srv)
                    return len(got) == 4 and all(r["status"] == "dead" for r in got)

                await eventually(all_dead, within=20)
                answers = []
                async with srv.admin as c:
                    for path in ("/api/v1/notifications", f"/api/v1/alerts/{alert_id}/notifications",
                                 "/api/v1/receivers"):
                        r = await c.get(path)
                        assert r.status_code == 200, r.text
                        answers.append(r.text)
                    for name in ("chat", "tickets", "genie", "hook"):
                        r = await c.post(f"/api/v1/receivers/{name}/test")
                        assert r.status_code == 200 and r.json()["ok"] is False, r.text
                        answers.append(r.text)
            finally:
                root.removeHandler(captured)
                root.setLevel(level)
    assert len(echo.requests) >= 8
    errors = [n["last_error"] for n in json.loads(answers[0])["notifications"]]
    assert all(e and "upstream error" in e for e in errors), errors  # the echo is kept, scrubbed
    logged = "\n".join([r.getMessage() + (r.exc_text or "") for r in captured.records])
    assert "dead" in logged  # the dead notifications were logged, without their secrets
    leaks = [(form, where) for form in secret_forms(echo.url)
             for where, text in [("log", logged), *((f"api {i}", a) for i, a in enumerate(answers))] if form in text]
    assert leaks == []
    assert not [r for r in captured.records if r.name.startswith(("httpx", "httpcore"))]
