"""Jira (REST API v2): create an issue, comment on every update, transition it on resolve.

The issue key is remembered per alert (``notify_state.ext_ref``). Creating is not idempotent
in Jira, so every issue carries a label unique to the alert and a create first searches for
it: a retry after a lost answer (or a crash) finds the issue instead of opening a second one.

Search uses Jira Cloud's ``/search/jql`` (the old ``/search`` was removed from Cloud in 2025) and
falls back to ``/search`` where that does not exist (Data Center). Cloud search is eventually
consistent, so after a create whose answer was lost the retry waits ``create_retry_delay``
(default 15 s) for the new issue to become searchable.
"""

from __future__ import annotations

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


class JiraSender(BaseSender):
    uses_ref = True
    _legacy_search: bool | None = None  # learnt on first use: does this Jira lack /search/jql?

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
            result, key = await self._find(client, base, auth, item)
            if not result.ok:
                return result
            found_now = key is not None
        if key is None:
            if item.transition not in ("firing", "test"):
                return Result(False, retry=False, error="no Jira issue exists for this alert")
            body = build_issue(item, title, text, project=str(self.opt("project", "OPS")),
                               issue_type=str(self.opt("issue_type", "Task")), labels=self.opt("labels"))
            result, resp = await self.request(client, "POST", f"{base}{API}/issue", json_body=body, auth=auth)
            if result.ok and resp is not None:
                result.ext_ref[item.alert_id] = {"issue_key": resp.json()["key"]}
            elif result.retry:
                # the issue may exist although we got no answer: give search time to see it
                delay = parse_duration(self.opt("create_retry_delay", "15s"))
                result.retry_after = max(result.retry_after or 0.0, delay)
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
