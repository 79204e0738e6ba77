"""ServiceNow incident Table API: create, update work notes, resolve; the sys_id is remembered.

Every incident carries ``correlation_id`` = the alert key, and a create first queries for it,
so a retry after a lost answer finds the incident instead of opening a second one (the Table API
reads its own writes). An update is one PATCH (state + work note); it is marked *sent* before the
request, and a retry of a sent update first checks ServiceNow: a resolve whose incident is already
Resolved/Closed is done, and a work note carrying the notification's key (looked up in
``sys_journal_field``) is not written again.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from opsconductor.notify.receivers.base import BaseSender, Delivery, Item, Result, unavailable
from opsconductor.notify.secrets import SecretUnavailable

TABLE = "/api/now/table/incident"
URGENCY = {"critical": "1", "major": "1", "minor": "2", "warning": "2", "info": "3"}
IMPACT = {"critical": "1", "major": "2", "minor": "2", "warning": "3", "info": "3"}
STATE_IN_PROGRESS, STATE_RESOLVED, STATE_CLOSED = "2", "6", "7"
JOURNAL = "/api/now/table/sys_journal_field"


def correlation_id(item: Item) -> str:
    return f"opsconductor-{str(item.alert.get('fingerprint', ''))[:16]}-{item.alert_id}"


def build_create(item: Item, title: str, text: str, options: dict[str, Any]) -> dict[str, Any]:
    """The create-incident body (pure)."""
    a = item.alert
    sev = str(a.get("severity"))
    body: dict[str, Any] = {
        "short_description": title[:160],
        "description": f"{text}\n\nResource: {a.get('resource')}\nEvent: {a.get('event')}\n"
                       f"Link: {item.links.get('alert', '')}",
        "urgency": URGENCY.get(sev, "2"), "impact": IMPACT.get(sev, "3"),
        "correlation_id": correlation_id(item), "correlation_display": "OpsConductor",
        "cmdb_ci": str(a.get("resource")),
    }
    for k in ("assignment_group", "caller_id", "category"):
        if options.get(k):
            body[k] = options[k]
    return body


def build_update(item: Item, title: str, text: str, options: dict[str, Any]) -> dict[str, Any]:
    """The PATCH body for a later transition (pure); the note ends with the notification's key."""
    note = f"{item.transition.replace('_', ' ')}: {title}\n{text}\n[{item.idem_key}]"
    if item.transition in ("resolved", "expired"):
        return {"state": STATE_RESOLVED, "close_code": options.get("close_code", "Solution provided"),
                "close_notes": note, "work_notes": note}
    if item.transition == "acknowledged":
        return {"state": STATE_IN_PROGRESS, "work_notes": note}
    body = {"work_notes": note}
    if item.transition == "severity_changed":
        sev = str(item.alert.get("severity"))
        body.update(urgency=URGENCY.get(sev, "2"), impact=IMPACT.get(sev, "3"))
    return body


class ServiceNowSender(BaseSender):
    uses_ref = True

    async def send(self, client: httpx.AsyncClient, delivery: Delivery) -> Result:
        item = delivery.items[0]
        if item.transition == "repeat":
            return Result(True)
        try:
            base = self.secret("url").rstrip("/")
            auth = (self.secret("user"), self.secret("password"))
        except SecretUnavailable as exc:
            return unavailable(exc)
        headers = {"Accept": "application/json"}
        title, text = self.texts(item, delivery)
        sys_id = item.ext_ref.get("sys_id") or item.progress.get("sys_id")
        found_now = False
        if sys_id is None:
            q = quote(f"correlation_id={correlation_id(item)}")
            result, resp = await self.request(
                client, "GET", f"{base}{TABLE}?sysparm_query={q}&sysparm_fields=sys_id,number&sysparm_limit=1",
                auth=auth, headers=headers)
            if not result.ok or resp is None:
                return result
            rows = resp.json().get("result") or []
            sys_id = rows[0]["sys_id"] if rows else None
            found_now = sys_id is not None
        if sys_id is None:
            if item.transition not in ("firing", "test"):
                return Result(False, retry=False, error="no ServiceNow incident exists for this alert")
            result, resp = await self.request(client, "POST", base + TABLE, auth=auth, headers=headers,
                                              json_body=build_create(item, title, text, self.cfg.options))
            if result.ok and resp is not None:
                rec = resp.json()["result"]
                item.progress["sys_id"] = rec["sys_id"]
                result.ext_ref[item.alert_id] = {"sys_id": rec["sys_id"], "number": rec.get("number")}
                result.external[item.alert_id] = str(rec.get("number") or rec["sys_id"])
            return result
        refs = {item.alert_id: {"sys_id": sys_id}} if found_now else {}
        if item.transition in ("firing", "test"):
            return Result(True, ext_ref=refs, external={item.alert_id: sys_id})
        result = await self._update(client, base, auth, headers, delivery, item, sys_id, title, text)
        result.ext_ref = refs
        result.external[item.alert_id] = sys_id
        return result

    async def _update(self, client: httpx.AsyncClient, base: str, auth: tuple[str, str], headers: dict[str, str],
                      delivery: Delivery, item: Item, sys_id: str, title: str, text: str) -> Result:
        p = item.progress
        if item.transition in ("resolved", "expired"):
            got, resp = await self.request(client, "GET", f"{base}{TABLE}/{quote(sys_id)}?sysparm_fields=state",
                                           auth=auth, headers=headers)
            if not got.ok or resp is None:
                return got
            if str((resp.json().get("result") or {}).get("state")) in (STATE_RESOLVED, STATE_CLOSED):
                return Result(True, status_code=got.status_code)  # resolved already: by us earlier, or by a person
        elif p.get("update_sent"):
            q = quote(f"element_id={sys_id}^element=work_notes^valueLIKE[{item.idem_key}]")
            got, resp = await self.request(client, "GET", f"{base}{JOURNAL}?sysparm_query={q}&sysparm_limit=1"
                                           "&sysparm_fields=sys_id", auth=auth, headers=headers)
            if not got.ok or resp is None:
                return got
            if resp.json().get("result"):
                return Result(True, status_code=got.status_code)  # the earlier attempt's note is there
        p["update_sent"] = True
        await delivery.save(item)
        result, _ = await self.request(client, "PATCH", f"{base}{TABLE}/{quote(sys_id)}", auth=auth,
                                       headers=headers, json_body=build_update(item, title, text, self.cfg.options))
        return result
