"""Jira (REST API v2): create an issue, comment on every update, transition it on resolve.

The issue key is remembered per alert (``notify_state.ext_ref``). Creating is not idempotent
in Jira, so every issue carries a label unique to the alert and a create first searches for
it: a retry after a lost answer (or a crash) finds the issue instead of opening a second one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from opsconductor.notify.receivers.base import BaseSender, Delivery, Item, Result, unavailable
from opsconductor.notify.secrets import SecretUnavailable

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


def search_path(item: Item) -> str:
    jql = f'labels = "{alert_label(item)}" ORDER BY created ASC'
    return f"{API}/search?jql={quote(jql)}&fields=key&maxResults=1"


def pick_transition(transitions: list[dict[str, Any]], wanted: str) -> str | None:
    """The id of the transition named ``wanted`` (or leading to a status of that name)."""
    w = wanted.lower()
    for t in transitions:
        if str(t.get("name", "")).lower() == w or str((t.get("to") or {}).get("name", "")).lower() == w:
            return str(t["id"])
    return None


class JiraSender(BaseSender):
    uses_ref = True
    async def send(self, client: httpx.AsyncClient, delivery: Delivery) -> Result:
        item = delivery.items[0]
        if item.transition == "repeat":
            return Result(True)  # the issue is the reminder
        try:
            base = self.secret("url").rstrip("/")
            auth = (self.secret("user"), self.secret("token"))
        except SecretUnavailable as exc:
            return unavailable(exc)
        title, text = self.texts(item)
        key = item.ext_ref.get("issue_key")
        found_now = False
        if key is None:
            result, resp = await self.request(client, "GET", base + search_path(item), auth=auth,
                                              headers={"Accept": "application/json"})
            if not result.ok or resp is None:
                return result
            issues = resp.json().get("issues") or []
            key = issues[0]["key"] if issues else None
            found_now = key is not None
        if key is None:
            if item.transition not in ("firing", "test"):
                return Result(False, retry=False, error="no Jira issue exists for this alert")
            body = build_issue(item, title, text, project=str(self.opt("project", "OPS")),
                               issue_type=str(self.opt("issue_type", "Task")), labels=self.opt("labels"))
            result, resp = await self.request(client, "POST", f"{base}{API}/issue", json_body=body, auth=auth)
            if result.ok and resp is not None:
                result.ext_ref[item.alert_id] = {"issue_key": resp.json()["key"]}
            return result
        refs = {item.alert_id: {"issue_key": key}} if found_now else {}
        if item.transition in ("firing", "test"):
            return Result(True, ext_ref=refs)  # the issue exists already (an earlier attempt created it)
        result, _ = await self.request(client, "POST", f"{base}{API}/issue/{quote(key)}/comment",
                                       json_body=build_comment(item, title, text), auth=auth)
        result.ext_ref = refs
        if not result.ok or item.transition not in ("resolved", "expired"):
            return result
        got, resp = await self.request(client, "GET", f"{base}{API}/issue/{quote(key)}/transitions", auth=auth)
        if not got.ok or resp is None:
            return got
        tid = pick_transition(resp.json().get("transitions") or [], str(self.opt("resolve_transition", "Done")))
        if tid is None:
            return Result(False, retry=False, error=f"Jira issue {key} has no transition "
                                                      f"{self.opt('resolve_transition', 'Done')!r}")
        done, _ = await self.request(client, "POST", f"{base}{API}/issue/{quote(key)}/transitions",
                                     json_body={"transition": {"id": tid}}, auth=auth)
        done.ext_ref = refs
        return done
