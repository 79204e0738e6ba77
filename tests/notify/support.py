"""Local stand-ins for the SaaS receivers: real HTTP on loopback, recording every request.

Each fake plays the documented API of its service closely enough to catch a wrong payload
(required fields, auth headers, status codes). ``script`` queues canned failures that are
answered before the normal behaviour, and ``hang`` makes the server never answer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

Response = tuple[int, dict[str, str], bytes]


@dataclass
class Req:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def js(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode()


class FakeService:
    """Base: record, play scripted answers first, then ``handle``."""

    def __init__(self) -> None:
        self.requests: list[Req] = []
        self.script: list[Response | str] = []  # "hang" = never answer
        self.hang = False
        self.url = ""
        self.arrived = asyncio.Event()
        self.delay = 0.0  # answer this many seconds late (the request is processed at once)
        self.down = False  # answer every request with 503, as a receiver in an outage would

    def handle(self, req: Req) -> Response | None:
        """The normal answer; None = never answer (the request was processed, the reply is lost)."""
        return 200, {"Content-Type": "text/plain"}, b"ok"

    async def answer(self, req: Req) -> Response | None:
        self.requests.append(req)
        self.arrived.set()
        if self.script:
            step = self.script.pop(0)
            if step == "hang":
                return None
            assert not isinstance(step, str)
            return step
        if self.hang:
            return None
        if self.down:
            return 503, {"Content-Type": "text/plain"}, b"service unavailable"
        resp = self.handle(req)
        if self.delay:
            await asyncio.sleep(self.delay)
        return resp

    async def wait_for(self, n: int, within: float = 10.0) -> None:
        async def _wait() -> None:
            while len(self.requests) < n:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(_wait(), within)


async def _serve_conn(svc: FakeService, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            method, target, _ = line.decode().split(" ", 2)
            headers: dict[str, str] = {}
            while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                k, _, v = h.decode().partition(":")
                headers[k.strip().lower()] = v.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            parts = urlsplit(target)
            req = Req(method, unquote(parts.path), parse_qs(parts.query), headers, body)
            resp = await svc.answer(req)
            if resp is None:
                await asyncio.Event().wait()  # hang until the client gives up
                return
            status, rh, rb = resp
            head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(rb)}\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in rh.items())
            writer.write(head.encode() + b"\r\n" + rb)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        return
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


@asynccontextmanager
async def serving(svc: FakeService) -> AsyncIterator[FakeService]:
    conns: set[asyncio.Task[None]] = set()

    async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        conns.add(task)
        try:
            await _serve_conn(svc, r, w)
        except asyncio.CancelledError:
            pass  # the fake is shutting down; a cancelled task here only makes asyncio log noise
        finally:
            conns.discard(task)

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    svc.url = f"http://127.0.0.1:{port}"
    try:
        yield svc
    finally:
        server.close()
        for t in list(conns):
            t.cancel()
        with contextlib.suppress(Exception):
            await server.wait_closed()


class WebhookSink(FakeService):
    """A generic webhook consumer that de-duplicates on the Idempotency-Key header."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: dict[str, Req] = {}
        self.hang_after_accept = 0  # process the request, then never answer

    def handle(self, req: Req) -> Response | None:
        self.accepted.setdefault(req.headers.get("idempotency-key", ""), req)
        if self.hang_after_accept > 0:
            self.hang_after_accept -= 1
            return None
        return 200, {}, b""


class SlackFake(FakeService):
    """Incoming webhook (any path but /api/...) and the Web API chat.postMessage / chat.update."""

    def __init__(self, token: str = "xoxb-test") -> None:
        super().__init__()
        self.token = token
        self.messages: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []

    def handle(self, req: Req) -> Response:
        if not req.path.startswith("/api/"):
            body = req.json()
            if not body.get("text") and not body.get("blocks"):
                return 400, {}, b"no_text"
            self.messages.append(body)
            return 200, {"Content-Type": "text/html"}, b"ok"
        if req.headers.get("authorization") != f"Bearer {self.token}":
            return js(200, {"ok": False, "error": "invalid_auth"})
        body = req.json()
        if req.path == "/api/chat.postMessage":
            if not body.get("channel"):
                return js(200, {"ok": False, "error": "channel_not_found"})
            ts = f"1700000000.{len(self.messages) + 1:06d}"
            self.messages.append({**body, "ts": ts})
            return js(200, {"ok": True, "channel": "C0123", "ts": ts, "message": {"text": body.get("text")}})
        if req.path == "/api/chat.update":
            self.updates.append(body)
            return js(200, {"ok": True, "channel": body.get("channel"), "ts": body.get("ts")})
        return js(200, {"ok": False, "error": "unknown_method"})


class PagerDutyFake(FakeService):
    """Events API v2 at /v2/enqueue; incidents keyed by dedup_key."""

    def __init__(self) -> None:
        super().__init__()
        self.incidents: dict[str, dict[str, Any]] = {}

    def handle(self, req: Req) -> Response:
        if req.method != "POST" or req.path != "/v2/enqueue":
            return js(404, {"status": "invalid path"})
        ev = req.json()
        errors = []
        if not ev.get("routing_key"):
            errors.append("'routing_key' is missing or blank")
        if ev.get("event_action") not in ("trigger", "acknowledge", "resolve"):
            errors.append("'event_action' is invalid")
        key = ev.get("dedup_key")
        if ev.get("event_action") == "trigger":
            p = ev.get("payload") or {}
            for f in ("summary", "source", "severity"):
                if not p.get(f):
                    errors.append(f"'payload.{f}' is missing or blank")
            if p.get("severity") not in ("critical", "error", "warning", "info"):
                errors.append("'payload.severity' is invalid")
        elif not key:
            errors.append("'dedup_key' is required for acknowledge and resolve")
        if errors:
            return js(400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors})
        if ev["event_action"] == "trigger":
            inc = self.incidents.setdefault(key, {"status": "triggered", "events": []})
            if inc["status"] == "resolved":
                inc["status"] = "triggered"
        else:
            inc = self.incidents.get(key, {"status": "none", "events": []})
            if key in self.incidents:
                inc["status"] = {"acknowledge": "acknowledged", "resolve": "resolved"}[ev["event_action"]]
        inc["events"].append(ev["event_action"])
        return js(202, {"status": "success", "message": "Event processed", "dedup_key": key})


class OpsgenieFake(FakeService):
    def __init__(self, key: str = "genie-key") -> None:
        super().__init__()
        self.key = key
        self.alerts: dict[str, dict[str, Any]] = {}

    def handle(self, req: Req) -> Response:
        if req.headers.get("authorization") != f"GenieKey {self.key}":
            return js(401, {"message": "Could not authenticate", "took": 0.0, "requestId": "x"})
        body = req.json()
        ok = js(202, {"result": "Request will be processed", "took": 0.01, "requestId": f"r{len(self.requests)}"})
        if req.path == "/v2/alerts":
            if not body.get("message") or len(body["message"]) > 130:
                return js(422, {"message": "Request has validation errors", "errors": {"message": "invalid"}})
            a = self.alerts.setdefault(body["alias"], {"status": "open", "count": 0, "body": body, "notes": []})
            a["count"] += 1
            return ok
        parts = req.path.split("/")  # /v2/alerts/{alias}/{action}
        if len(parts) == 5 and req.query.get("identifierType") == ["alias"] and parts[3] in self.alerts:
            a = self.alerts[parts[3]]
            action = parts[4]
            if action == "acknowledge":
                a["acknowledged"] = True
            elif action == "close":
                a["status"] = "closed"
            elif action == "notes":
                a["notes"].append(body["note"])
            else:
                return js(404, {"message": "unknown action"})
            return ok
        return js(404, {"message": "Alert does not exist"})


class JiraFake(FakeService):
    """REST API v2: create issue, search by label, comment, transitions.

    ``cloud=True`` (default) plays Jira Cloud: enhanced search ``/search/jql`` only (the old
    ``/search`` answers 410 Gone); ``cloud=False`` plays Data Center: ``/search`` only.
    """

    def __init__(self, user: str = "bot@example.com", token: str = "jira-token", *, cloud: bool = True) -> None:
        super().__init__()
        self.cloud = cloud
        self.auth = "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()
        self.issues: dict[str, dict[str, Any]] = {}
        self.lose_create_answers = 0  # create the issue but answer 504, as a proxy timing out would
        self.hang_after_create = 0  # create the issue, then never answer (the sender dies meanwhile)
        self.search_lag = 0.0  # Cloud search is eventually consistent: an issue shows up this long after creation
        self.hang_after = {"comment": 0, "transition": 0}  # apply the step, then never answer
        self.lose_answers = {"comment": 0, "transition": 0}  # apply the step, then answer 504

    def _lost(self, step: str, resp: Response) -> Response | None:
        if self.hang_after[step] > 0:
            self.hang_after[step] -= 1
            return None
        if self.lose_answers[step] > 0:
            self.lose_answers[step] -= 1
            return js(504, {"errorMessages": ["gateway timeout"]})
        return resp

    def answer_lost(self, resp: Response) -> Response:
        if self.lose_create_answers > 0:
            self.lose_create_answers -= 1
            return js(504, {"errorMessages": ["gateway timeout"]})
        return resp

    def handle(self, req: Req) -> Response | None:
        if req.headers.get("authorization") != self.auth:
            return js(401, {"errorMessages": ["unauthorized"]})
        p = req.path
        if p == "/rest/api/2/issue" and req.method == "POST":
            f = req.json().get("fields", {})
            missing = {k: "required" for k in ("project", "summary", "issuetype") if not f.get(k)}
            if missing:
                return js(400, {"errorMessages": [], "errors": missing})
            key = f"{f['project']['key']}-{len(self.issues) + 1}"
            self.issues[key] = {"fields": f, "comments": [], "status": "To Do", "created": time.monotonic()}
            if self.hang_after_create > 0:
                self.hang_after_create -= 1
                return None
            return self.answer_lost(
                js(201, {"id": str(10000 + len(self.issues)), "key": key, "self": f"{self.url}{p}/{key}"}))
        if p in ("/rest/api/2/search", "/rest/api/2/search/jql") and req.method == "GET":
            if (p == "/rest/api/2/search") == self.cloud:
                if self.cloud:
                    return js(410, {"errorMessages": ["The requested API has been removed."]})
                return js(404, {"errorMessages": ["null for uri"]})
            jql = req.query.get("jql", [""])[0]
            label = jql.split('"')[1] if '"' in jql else ""
            visible = time.monotonic() - self.search_lag
            hits = [{"id": str(10000 + i), "key": k} for i, (k, v) in enumerate(self.issues.items(), 1)
                    if label in v["fields"].get("labels", []) and v["created"] <= visible]
            if self.cloud:
                return js(200, {"issues": hits[:1], "isLast": True})
            return js(200, {"startAt": 0, "maxResults": 1, "total": len(hits), "issues": hits[:1]})
        parts = p.split("/")  # /rest/api/2/issue/{key}/{sub}
        if len(parts) == 6 and parts[4] == "issue" and parts[5] in self.issues and req.method == "GET":
            status = self.issues[parts[5]]["status"]
            category = {"To Do": "new", "In Progress": "indeterminate", "Done": "done"}[status]
            return js(200, {"key": parts[5], "fields": {"status": {"name": status,
                                                                   "statusCategory": {"key": category}}}})
        if len(parts) == 7 and parts[4] == "issue" and parts[5] in self.issues:
            issue = self.issues[parts[5]]
            if parts[6] == "comment" and req.method == "GET":
                comments = [{"id": str(i), "body": b} for i, b in enumerate(issue["comments"], 1)]
                return js(200, {"startAt": 0, "maxResults": 100, "total": len(comments), "comments": comments[::-1]})
            if parts[6] == "comment" and req.method == "POST":
                issue["comments"].append(req.json()["body"])
                return self._lost("comment", js(201, {"id": str(len(issue["comments"])), "body": req.json()["body"]}))
            if parts[6] == "transitions" and req.method == "GET":  # only the ones valid from the current status
                ts = [{"id": "11", "name": "In Progress", "to": {"name": "In Progress"}},
                      {"id": "31", "name": "Done", "to": {"name": "Done"}}]
                return js(200, {"transitions": [t for t in ts if t["to"]["name"] != issue["status"]]})
            if parts[6] == "transitions" and req.method == "POST":
                tid = req.json()["transition"]["id"]
                if issue["status"] == "Done" and tid == "31":
                    return js(400, {"errorMessages": ["Transition '31' is not valid for this issue."]})
                issue["status"] = {"11": "In Progress", "31": "Done"}.get(tid, issue["status"])
                return self._lost("transition", (204, {}, b""))
        return js(404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]})


class ServiceNowFake(FakeService):
    """Table API on /api/now/table/incident: create, query, PATCH."""

    def __init__(self, user: str = "svc", password: str = "pw") -> None:
        super().__init__()
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.incidents: dict[str, dict[str, Any]] = {}
        self.hang_after = {"create": 0, "update": 0, "resolve": 0}  # apply, then never answer

    def _lost(self, step: str, resp: Response) -> Response | None:
        if self.hang_after[step] > 0:
            self.hang_after[step] -= 1
            return None
        return resp

    def handle(self, req: Req) -> Response | None:
        if req.headers.get("authorization") != self.auth:
            return js(401, {"error": {"message": "User Not Authenticated"}, "status": "failure"})
        base = "/api/now/table/incident"
        if req.path == base and req.method == "POST":
            body = req.json()
            sys_id = f"{len(self.incidents) + 1:032x}"
            rec = {**body, "sys_id": sys_id, "number": f"INC{len(self.incidents) + 1:07d}", "state": "1",
                   "work_notes_log": []}
            self.incidents[sys_id] = rec
            return self._lost("create", js(201, {"result": rec}))
        if req.path == "/api/now/table/sys_journal_field" and req.method == "GET":
            q = dict(c.split("=", 1) if "=" in c else c.split("LIKE", 1)
                     for c in req.query.get("sysparm_query", [""])[0].replace("valueLIKE", "value=").split("^"))
            rec = self.incidents.get(q.get("element_id", ""))
            notes = rec["work_notes_log"] if rec and q.get("element") == "work_notes" else []
            hits = [{"sys_id": f"j{i}"} for i, n in enumerate(notes) if q.get("value", "") in n]
            return js(200, {"result": hits[:1]})
        if req.path.startswith(base + "/") and req.method == "GET":
            rec = self.incidents.get(req.path.rsplit("/", 1)[1])
            if rec is None:
                return js(404, {"error": {"message": "No Record found"}, "status": "failure"})
            return js(200, {"result": {"state": rec["state"]}})
        if req.path == base and req.method == "GET":
            q = req.query.get("sysparm_query", [""])[0]
            want = q.split("=", 1)[1] if q.startswith("correlation_id=") else None
            rows = [{"sys_id": r["sys_id"], "number": r["number"]} for r in self.incidents.values()
                    if r.get("correlation_id") == want]
            return js(200, {"result": rows[:1]})
        if req.path.startswith(base + "/") and req.method == "PATCH":
            rec = self.incidents.get(req.path.rsplit("/", 1)[1])
            if rec is None:
                return js(404, {"error": {"message": "No Record found"}, "status": "failure"})
            body = req.json()
            if "work_notes" in body:
                rec["work_notes_log"].append(body.pop("work_notes"))
            rec.update(body)
            return self._lost("resolve" if body.get("state") == "6" else "update", js(200, {"result": rec}))
        return js(400, {"error": {"message": "Invalid table"}, "status": "failure"})


class TeamsFake(FakeService):
    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict[str, Any]] = []

    def handle(self, req: Req) -> Response:
        body = req.json()
        att = (body.get("attachments") or [{}])[0]
        if body.get("type") != "message" or att.get("contentType") != "application/vnd.microsoft.card.adaptive":
            return js(400, {"error": {"code": "InvalidRequestContent"}})
        self.cards.append(att["content"])
        return 202, {}, b""
