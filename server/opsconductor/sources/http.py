"""``kind: http``: call a JSON API, pick the list of records by JMESPath, page through it.

    - name: sensors
      kind: http
      url: "http://{{ target.address }}:{{ target.port }}/api/table.json"
      params: {content: sensors, columns: "objid,device,sensor,status_raw"}
      auth: {type: query, name: apitoken}             # the secret from the target's credential
      items: sensors                                  # JMESPath to the list of records
      pagination: {type: offset, param: start, size_param: count, size: 500, total: treesize}

``inventory:`` instead of ``events:`` turns each record into a target (NetBox sync).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jmespath.parser
from jinja2.sandbox import SandboxedEnvironment

from opsconductor.config.yaml_source import DataPath, Positions
from opsconductor.errors import AuthFailed, BadAnswer, SourceError
from opsconductor.normalize.parsers import ParseError, compile_jmespath, parse_json
from opsconductor.normalize.records import Template
from opsconductor.sources.common import CommonSpec, compile_template, kind_schema, parse_common, validate_entry
from opsconductor.sources.credentials import Secret
from opsconductor.sources.job import PollJob

TEMPLATES = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
AUTH_TYPES = ("bearer", "basic", "header", "query", "login")
LINKS_SUFFIX = ":links"  # sync origin of a `links:` source: depends_on of the addon's targets, not targets


@dataclass(frozen=True)
class HttpSpec:
    common: CommonSpec
    method: str
    url: Template
    params: Mapping[str, Template]
    headers: Mapping[str, Template]
    body: Any
    auth: Mapping[str, Any] | None
    items: jmespath.parser.ParsedResult | None
    pagination: Mapping[str, Any] | None
    next_path: jmespath.parser.ParsedResult | None
    total_path: jmespath.parser.ParsedResult | None
    max_pages: int
    inventory: Mapping[str, Any] | None
    links: Mapping[str, Any] | None = None  # topology links between targets (NetBox cables)


class HttpKind:
    name = "http"
    polled = True

    def schema(self) -> dict[str, Any]:
        return kind_schema("http", {
            "method": {"type": "string", "enum": ["GET", "POST"]},
            "url": {"$ref": "#/$defs/template"},
            "params": TEMPLATES,
            "headers": TEMPLATES,
            "body": {"description": "JSON body (POST)"},
            "auth": {
                "type": "object", "additionalProperties": False, "required": ["type"],
                "properties": {
                    "type": {"type": "string", "enum": list(AUTH_TYPES)},
                    "name": {"type": "string", "description": "header or query parameter name"},
                    "prefix": {"type": "string", "description": "before the secret, e.g. 'Token '"},
                    "url": {"type": "string", "description": "login: token endpoint (relative to url)"},
                    "token": {"type": "string", "description": "login: JMESPath of the token in the answer"},
                },
                # The login endpoint is the addon's to say (no vendor path defaulted in code).
                "if": {"properties": {"type": {"const": "login"}}}, "then": {"required": ["url"]},
            },
            "items": {"type": "string", "description": "JMESPath to the list of records"},
            "pagination": {
                "type": "object", "additionalProperties": False, "required": ["type"],
                "properties": {
                    "type": {"type": "string", "enum": ["offset", "next"]},
                    "param": {"type": "string"}, "size_param": {"type": "string"},
                    "size": {"type": "integer", "minimum": 1}, "total": {"type": "string"},
                    "start": {"type": "integer", "minimum": 0},
                    "next": {"type": "string", "description": "JMESPath to the next page's URL"},
                    "max_pages": {"type": "integer", "minimum": 1},
                },
            },
            "inventory": {
                "type": "object", "additionalProperties": False, "required": ["name", "address"],
                "description": "Sync each record into a target instead of emitting events",
                "properties": {
                    "name": {"type": "string"}, "address": {"type": "string"}, "port": {"type": "string"},
                    "labels": TEMPLATES, "addons": {"type": "array", "items": {"type": "string"}},
                    "credential": {"type": "string"},
                    "credentials": {"type": "object", "additionalProperties": {"type": "string"},
                                    "description": "per kind/addon: a reference or a template giving one"},
                    "only_with_address": {"type": "boolean"},
                },
            },
            "links": {
                "type": "object", "additionalProperties": False, "required": ["a", "b", "upstream_roles"],
                "description": "Each record links two targets (NetBox cables): the one whose role label comes "
                               "first in upstream_roles becomes the other's upstream (depends_on)",
                "properties": {"a": {"type": "string"}, "b": {"type": "string"},
                               "upstream_roles": {"type": "array", "items": {"type": "string"}, "minItems": 2}},
            },
        }, required=("url",), description="Poll a JSON HTTP API")

    def parse(self, entry: Mapping[str, Any], positions: Positions, path: DataPath) -> HttpSpec:
        validate_entry(self.schema(), entry, positions, path)
        env = SandboxedEnvironment(autoescape=False)

        def tmap(key: str) -> dict[str, Template]:
            return {k: compile_template(env, str(v), positions, (*path, key, k))
                    for k, v in (entry.get(key) or {}).items()}

        def jp(key: str, value: str | None, at: DataPath) -> jmespath.parser.ParsedResult | None:
            if value is None:
                return None
            try:
                return compile_jmespath(value)
            except ParseError as exc:
                raise positions.error(at, str(exc)) from None

        pag = entry.get("pagination")
        inv = entry.get("inventory")
        if inv is not None:
            inv = {k: (compile_template(env, v, positions, (*path, "inventory", k)) if isinstance(v, str) else
                       {lk: compile_template(env, str(lv), positions, (*path, "inventory", k, lk))
                        for lk, lv in v.items()} if isinstance(v, dict) and k in ("labels", "credentials") else v)
                   for k, v in inv.items()}
        links = entry.get("links")
        if links is not None:
            links = {"a": compile_template(env, links["a"], positions, (*path, "links", "a")),
                     "b": compile_template(env, links["b"], positions, (*path, "links", "b")),
                     "upstream_roles": tuple(str(r) for r in links["upstream_roles"])}
        return HttpSpec(
            common=parse_common(entry, positions, path, default_interval=60.0, default_timeout=15.0),
            method=str(entry.get("method", "GET")),
            url=compile_template(env, str(entry["url"]), positions, (*path, "url")),
            params=tmap("params"), headers=tmap("headers"), body=entry.get("body"),
            auth=entry.get("auth"),
            items=jp("items", entry.get("items"), (*path, "items")),
            pagination=pag,
            next_path=jp("next", (pag or {}).get("next"), (*path, "pagination", "next")),
            total_path=jp("total", (pag or {}).get("total"), (*path, "pagination", "total")),
            max_pages=int((pag or {}).get("max_pages", 100)),
            inventory=inv,
            links=links,
        )

    async def collect(self, job: PollJob) -> list[dict[str, Any]]:
        spec: HttpSpec = job.spec
        ctx = {"target": {"name": job.target.name, "address": job.target.address, "port": job.target.port,
                          "labels": dict(job.target.labels)}}
        url = spec.url.render(ctx)
        params: dict[str, Any] = {k: t.render(ctx) for k, t in spec.params.items()}
        headers = {k: t.render(ctx) for k, t in spec.headers.items()}
        secret = job.credential(required=spec.auth is not None)
        basic = await self._auth(job, spec, url, secret, headers, params)
        records: list[dict[str, Any]] = []
        pag = spec.pagination or {}
        offset = int(pag.get("start", 0))
        size = int(pag.get("size", 100))
        # Query parameters the auth added (a token): a `next` link carries everything else.
        auth_query = {k: v for k, v in params.items() if k not in spec.params}
        page_url, page_params = url, dict(params)
        for _ in range(spec.max_pages):
            if pag.get("type") == "offset":
                page_params = {**params, pag.get("param", "offset"): offset, pag.get("size_param", "limit"): size}
            resp = await self._request(job, spec, page_url, headers, page_params, basic, secret)
            try:
                data = resp.json()
                if spec.items is not None and spec.items.search(data) is None:
                    # Not "no records": an answer without its list must not clear every alarm.
                    raise ParseError(f"the answer has no {spec.items.expression!r}")
                page = parse_json(data, spec.items)
            except (ValueError, ParseError) as exc:
                raise BadAnswer(f"{job.target.name}: answer is not the expected JSON: {exc}") from None
            records.extend(page)
            if pag.get("type") == "offset":
                offset += len(page)
                total = spec.total_path.search(data) if spec.total_path else None
                # A server may send fewer rows than asked (its own cap): only the reported total,
                # or an empty page, ends the list.
                if not page or (offset >= _int(total) if total is not None else len(page) < size):
                    break
            elif pag.get("type") == "next" and spec.next_path is not None:
                nxt = spec.next_path.search(data)
                if not nxt:
                    break
                # Exactly as given (its query holds the filters and the offset); httpx would
                # replace that query with `params`, so only the auth's own parameters are added.
                page_url = str(httpx.URL(page_url).join(str(nxt)).copy_merge_params(auth_query))
                page_params = {}
            else:
                break
        if spec.inventory is not None:
            await job.sync_inventory(job.addon, [t for r in records if (t := _inventory(spec.inventory, r, ctx))])
        if spec.links is not None:
            await job.sync_inventory(job.addon + LINKS_SUFFIX, [x for r in records if (x := _link(spec.links, r, ctx))])
        return records

    async def _auth(self, job: PollJob, spec: HttpSpec, url: str, secret: Secret | None,
                    headers: dict[str, str], params: dict[str, Any]) -> tuple[str, str] | None:
        a = spec.auth
        if not a or secret is None:
            return None
        kind = a["type"]
        if kind == "basic":
            return (secret.part("username") or "", secret.part("password") or secret.value())
        if kind == "query":
            params[a.get("name", "apitoken")] = secret.value()
        elif kind == "header":
            headers[a.get("name", "Authorization")] = a.get("prefix", "") + secret.value()
        elif kind == "bearer":
            headers["Authorization"] = a.get("prefix", "Bearer ") + secret.value()
        elif kind == "login":
            token = job.state.get("_token")
            if token is None:
                token = await self._login(job, spec, url, secret)
            headers["Authorization"] = a.get("prefix", "Bearer ") + token
        return None

    async def _login(self, job: PollJob, spec: HttpSpec, url: str, secret: Secret) -> str:
        a = spec.auth or {}
        login_url = str(httpx.URL(url).join(a["url"]))
        resp = await job.clients.http.request(
            "POST", login_url, json={"username": secret.part("username"), "password": secret.part("password")},
            timeout=spec.common.timeout)
        try:
            token = compile_jmespath(a.get("token", "token")).search(resp.json())
        except (ValueError, ParseError):
            token = None
        if not token:
            raise AuthFailed(f"{job.target.name}: login answer has no token")
        job.state["_token"] = str(token)
        return str(token)

    async def _request(self, job: PollJob, spec: HttpSpec, url: str, headers: dict[str, str],
                       params: dict[str, Any], basic: tuple[str, str] | None, secret: Secret | None) -> httpx.Response:
        try:
            return await job.clients.http.request(spec.method, url, headers=headers, params=params,
                                                  json=spec.body, auth=basic, timeout=spec.common.timeout,
                                                  suspect=job.suspect)
        except SourceError as exc:
            # An expired login token: log in again once.
            if spec.auth and spec.auth["type"] == "login" and "answered 401" in str(exc) and secret is not None:
                job.state.pop("_token", None)
                headers["Authorization"] = spec.auth.get("prefix", "Bearer ") + await self._login(
                    job, spec, url, secret)
                return await job.clients.http.request(spec.method, url, headers=headers, params=params,
                                                      json=spec.body, auth=basic, timeout=spec.common.timeout,
                                                  suspect=job.suspect)
            raise


def _link(links: Mapping[str, Any], record: Mapping[str, Any], ctx: Mapping[str, Any]) -> dict[str, Any] | None:
    tctx = {**record, "row": record, **ctx}
    a, b = links["a"].render(tctx).strip(), links["b"].render(tctx).strip()
    if not a or not b or a == b:
        return None
    return {"a": a, "b": b, "upstream_roles": list(links["upstream_roles"])}


def _int(v: Any) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        raise BadAnswer(f"the reported total {v!r} is not a number") from None


def _inventory(inv: Mapping[str, Any], record: Mapping[str, Any], ctx: Mapping[str, Any]) -> dict[str, Any] | None:
    tctx = {**record, "row": record, **ctx}
    name = inv["name"].render(tctx)
    address = inv["address"].render(tctx)
    if not name or (not address and inv.get("only_with_address", True)):
        return None
    port = inv["port"].render(tctx) if "port" in inv else ""
    return {
        "name": name, "address": address or name, "port": int(port) if str(port).isdigit() else None,
        "labels": {k: v for k, t in (inv.get("labels") or {}).items() if (v := t.render(tctx))},
        "addons": list(inv.get("addons") or ()),
        "credential": inv["credential"].render(tctx) if "credential" in inv else None,
        # Per-device references, e.g. from a NetBox custom field: {snmp: "{{ custom_fields.snmp_cred }}"}.
        "credentials": {k: v for k, t in (inv.get("credentials") or {}).items() if (v := t.render(tctx))},
    }
