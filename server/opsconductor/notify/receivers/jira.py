"""Jira (REST API v2): create an issue, comment on every update, transition it on resolve.

The issue key is remembered per alert (``notify_state.ext_ref``). Creating is not idempotent
in Jira, so every issue carries a label unique to the alert and a create first searches for
it: a retry after a lost answer (or a crash) finds the issue instead of opening a second one.

Search uses Jira Cloud's ``/search/jql`` (the old ``/search`` was removed from Cloud in 2025) and
falls back to ``/search`` where that does not exist (Data Center). Cloud search is eventually
consistent, so the moment a create is sent is recorded first (``create_sent_at``); a later attempt
that does not find the issue waits until ``create_retry_delay`` (default 45 s) has passed since then
before it creates, whether the answer was lost to a timeout or to a crash of the whole server.

A delivery is a chain of steps (create, comment, transition). Each step is recorded when done, and
marked *sent* (durably, before the request) when it cannot be repeated blindly: a retry skips what is
done and checks Jira for what was sent (a comment carries the notification's idempotency key; a
resolve first reads the issue's status), so no comment is posted twice and an issue already closed
counts as resolved.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from opsconductor.notify.receivers.base import BaseSender, Delivery, Item, Result, unavailable
from opsconductor.notify.secrets import SecretUnavailable
from opsconductor.notify.timing import parse_duration

API = "/rest/api/2"


def alert_label(item: Item) -> str:
    return f"opsconductor-{str(item.alert.get('fingerprint', ''))[:12]}-{item.alert_id}"


def build_issue(item: Item, title: str, text: str, *, project: str, issue_type: str,
                labels: list[str] | None = None) -> dict[str, Any]:
    """The create-issue body (pure)."""
    a = item.alert
    lines = [text, "", f"Resource: {a.get('resource')}", f"Event: {a.get('event')}",
             f"Severity: {a.get('severity')}", f"First seen: {a.get('first_seen')}"]
    if item.links.get("alert"):
        lines.append(f"OpsConductor: {item.links['alert']}")
    return {"fields": {
        "project": {"key": project},
        "summary": title[:255].replace("\n", " "),
        "description": "\n".join(lines),
        "issuetype": {"name": issue_type},
        "labels": [*(labels or []), "opsconductor", alert_label(item)],
    }}


def build_comment(item: Item, title: str, text: str) -> dict[str, Any]:
    actor = item.payload.get("actor")
    by = f" by {actor}" if actor and item.transition in ("acknowledged", "unacknowledged") else ""
    return {"body": f"{item.transition.replace('_', ' ')}{by}: {title}\n{text}"}


def search_path(item: Item, *, legacy: bool = False) -> str:
    """Cloud's enhanced search (``/search/jql``), or the Data Center ``/search``."""
    jql = f'labels = "{alert_label(item)}" ORDER BY created ASC'
    return f"{API}/search{'' if legacy else '/jql'}?jql={quote(jql)}&fields=key&maxResults=1"


def pick_transition(transitions: list[dict[str, Any]], wanted: str) -> str | None:
    """The id of the transition named ``wanted`` (or leading to a status of that name)."""
    w = wanted.lower()
    for t in transitions:
        if str(t.get("name", "")).lower() == w or str((t.get("to") or {}).get("name", "")).lower() == w:
            return str(t["id"])
    return None


def build_comment_marked(item: Item, title: str, text: str) -> dict[str, Any]:
    """The comment, ending with the notification's key: how a retry recognises a comment already posted."""
    body = build_comment(item, title, text)
    body["body"] += f"\n[{item.idem_key}]"
    return body


def is_done(issue: dict[str, Any], wanted: str) -> bool:
    """Is the issue closed: its status category is Done, or its status is the resolve transition's target."""
    status = (issue.get("fields") or {}).get("status") or {}
    category = str((status.get("statusCategory") or {}).get("key", "")).lower()
    return category == "done" or str(status.get("name", "")).lower() == wanted.lower()


def _now() -> datetime:
    return datetime.now(UTC)


class JiraSender(BaseSender):
    uses_ref = True
    _legacy_search: bool | None = None  # learnt on first use: does this Jira lack /search/jql?

    def create_delay(self) -> float:
        return parse_duration(self.opt("create_retry_delay", "45s"))

    async def _find(self, client: httpx.AsyncClient, base: str, auth: tuple[str, str], item: Item
                    ) -> tuple[Result, str | None]:
        headers = {"Accept": "application/json"}
        for legacy in ([self._legacy_search] if self._legacy_search is not None else [False, True]):
            result, resp = await self.request(client, "GET", base + search_path(item, legacy=legacy), auth=auth,
                                              headers=headers)
            if not legacy and result.status_code in (404, 405) and self._legacy_search is None:
                continue  # no enhanced search here: a Data Center instance
            if result.ok and resp is not None:
                self._legacy_search = legacy
                issues = resp.json().get("issues") or []
                return result, (str(issues[0]["key"]) if issues else None)
            return result, None
        return Result(False, retry=False, error="Jira search is not available"), None

    async def _create(self, client: httpx.AsyncClient, base: str, auth: tuple[str, str], delivery: Delivery,
                      item: Item, title: str, text: str) -> Result:
        p = item.progress
        delay = self.create_delay()
        sent_at = p.get("create_sent_at")
        if sent_at:
            waited = (_now() - datetime.fromisoformat(sent_at)).total_seconds()
            if waited < delay:
                # an earlier create may exist but not be searchable yet: creating now could make a second one
                return Result(False, retry_after=delay - waited,
                              error=f"create sent {waited:.0f}s ago without an answer; waiting up to "
                                    f"{delay:g}s for Jira search to show it")
        p["create_sent_at"] = _now().isoformat()
        await delivery.save(item)
        body = build_issue(item, title, text, project=str(self.opt("project", "OPS")),
                           issue_type=str(self.opt("issue_type", "Task")), labels=self.opt("labels"))
        result, resp = await self.request(client, "POST", f"{base}{API}/issue", json_body=body, auth=auth)
        if result.ok and resp is not None:
            key = str(resp.json()["key"])
            p["issue_key"] = key
            result.ext_ref[item.alert_id] = {"issue_key": key}
            result.external[item.alert_id] = key
        elif result.retry:
            result.retry_after = max(result.retry_after or 0.0, delay)
        return result

    async def _commented(self, client: httpx.AsyncClient, base: str, auth: tuple[str, str], key: str,
                         item: Item) -> tuple[Result, bool]:
        """Does the issue already carry this notification's comment (an earlier attempt's answer was lost)?"""
        got, resp = await self.request(client, "GET", f"{base}{API}/issue/{quote(key)}/comment"
                                       "?orderBy=-created&maxResults=100", auth=auth)
        if not got.ok or resp is None:
            return got, False
        marker = f"[{item.idem_key}]"
        return got, any(marker in str(c.get("body", "")) for c in resp.json().get("comments") or [])

    async def _resolve(self, client: httpx.AsyncClient, base: str, auth: tuple[str, str], delivery: Delivery,
                       item: Item, key: str) -> Result:
        wanted = str(self.opt("resolve_transition", "Done"))
        got, resp = await self.request(client, "GET", f"{base}{API}/issue/{quote(key)}?fields=status", auth=auth)
        if not got.ok or resp is None:
            return got
        if is_done(resp.json(), wanted):
            return Result(True, status_code=got.status_code)  # closed already (by us earlier, or by a person)
        got, resp = await self.request(client, "GET", f"{base}{API}/issue/{quote(key)}/transitions", auth=auth)
        if not got.ok or resp is None:
            return got
        tid = pick_transition(resp.json().get("transitions") or [], wanted)
        if tid is None:
            return Result(False, retry=False, error=f"Jira issue {key} has no transition {wanted!r}")
        item.progress["transition_sent"] = True
        await delivery.save(item)
        done, _ = await self.request(client, "POST", f"{base}{API}/issue/{quote(key)}/transitions",
                                     json_body={"transition": {"id": tid}}, auth=auth)
        return done

    async def send(self, client: httpx.AsyncClient, delivery: Delivery) -> Result:
        item = delivery.items[0]
        if item.transition == "repeat":
            return Result(True)  # the issue is the reminder
        try:
            base = self.secret("url").rstrip("/")
            auth = (self.secret("user"), self.secret("token"))
        except SecretUnavailable as exc:
            return unavailable(exc)
        title, text = self.texts(item, delivery)
        p = item.progress
        key = item.ext_ref.get("issue_key") or p.get("issue_key")
        refs: dict[int, dict[str, Any]] = {}
        if key is None:
            result, key = await self._find(client, base, auth, item)
            if not result.ok:
                return result
            if key is not None:
                p["issue_key"] = key
                refs = {item.alert_id: {"issue_key": key}}
        if key is None:
            if item.transition not in ("firing", "test"):
                return Result(False, retry=False, error="no Jira issue exists for this alert")
            return await self._create(client, base, auth, delivery, item, title, text)
        outcome = await self._steps(client, base, auth, delivery, item, key, title, text)
        outcome.ext_ref = {**refs, **outcome.ext_ref}
        outcome.external[item.alert_id] = key
        return outcome

    async def _steps(self, client: httpx.AsyncClient, base: str, auth: tuple[str, str], delivery: Delivery,
                     item: Item, key: str, title: str, text: str) -> Result:
        """What follows the issue's existence: comment (once), then for a resolve the transition (once)."""
        p = item.progress
        if item.transition in ("firing", "test"):
            return Result(True)  # the issue exists already (an earlier attempt created it)
        last = Result(True)
        if not p.get("commented"):
            if p.get("comment_sent"):
                got, found = await self._commented(client, base, auth, key, item)
                if not got.ok:
                    return got
                p["commented"] = found
            if not p.get("commented"):
                p["comment_sent"] = True
                await delivery.save(item)
                last, _ = await self.request(client, "POST", f"{base}{API}/issue/{quote(key)}/comment",
                                             json_body=build_comment_marked(item, title, text), auth=auth)
                if not last.ok:
                    return last
                p["commented"] = True
        if item.transition not in ("resolved", "expired"):
            return last
        return await self._resolve(client, base, auth, delivery, item, key)
