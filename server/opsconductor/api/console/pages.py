"""The NOC console's pages: server-rendered HTML; the page script swaps fragments on live changes.

Pages read through the same store queries as the REST API; every action the page
offers is a call to the JSON API with the session cookie (and the CSRF header).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec
from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import MediaType, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from opsconductor import __version__
from opsconductor.api.alert_views import alert_dict, history_dict
from opsconductor.api.console import queries
from opsconductor.api.console.feed import stream
from opsconductor.api.console.session import COOKIE, SESSION_S, Session, current_session, key_by_secret, make_cookie
from opsconductor.api.console.views import (
    GROUP_FIELDS,
    OPEN,
    SEVERITIES,
    SORTS,
    STATUSES,
    ListOptions,
    age,
    grouped,
    list_options,
    severity_counts,
)
from opsconductor.correlate.parser import parse_matcher
from opsconductor.errors import AuthError, InputError, NotFound, Unavailable
from opsconductor.runtime import Runtime
from opsconductor.shelving import shelved_until
from opsconductor.store.alert_queries import count_alerts, get_alert, list_alerts
from opsconductor.store.api_keys import Scope

HERE = Path(__file__).parent
LIST_LIMIT = 500
SECURITY_HEADERS = {
    # Everything the console loads is its own: no CDN, no inline script.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
PAGE_OPT = {"public": True}  # pages check the session themselves: no session -> the sign-in page

_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)
_env.filters["tojson_compact"] = lambda v: json.dumps(v, sort_keys=True, default=str)


def _now() -> datetime:
    return datetime.now(UTC)


def _html(template: str, status: int = 200, **ctx: Any) -> Response[str]:
    ctx.setdefault("version", __version__)
    body = _env.get_template(template).render(**ctx)
    return Response(body, media_type=MediaType.HTML, status_code=status, headers=SECURITY_HEADERS)


def _safe_next(target: str | None) -> str:
    # Only paths on this server: never an open redirect to another site.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def _session(request: Request[Any, Any, Any]) -> Session | None:
    return await current_session(request, time.time())


def _unavailable(exc: Unavailable) -> Response[Any]:
    """A full page (not a JSON body) when the database is away: said plainly, and it retries by itself."""
    return _html("error.html", status=503, page="error", title="Service unavailable", detail=str(exc),
                 retry=True)


def _to_login(request: Request[Any, Any, Any]) -> Response[Any]:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"/login?next={quote(target, safe='')}", headers={"Cache-Control": "no-store"})


async def _need_session(request: Request[Any, Any, Any]) -> Session:
    """For fragments fetched by the page script: a problem body, not a redirect."""
    session = await _session(request)
    if session is None:
        raise AuthError("session expired or signed out: sign in again")
    return session


def _base(session: Session, page: str) -> dict[str, Any]:
    return {"session": session, "user": session.principal.name, "scope": session.principal.scope.value,
            "can_act": session.principal.scope.allows(Scope.write), "csrf": session.csrf, "page": page}


# -- sign in / out -------------------------------------------------------------------------------

@get("/login", opt=PAGE_OPT, include_in_schema=False)
async def login_page(request: Request[Any, Any, Any], next: FromQuery[str | None] = None) -> Response[Any]:
    if await _session(request) is not None:
        return Redirect(_safe_next(next))
    return _html("login.html", next=_safe_next(next), error=None, page="login")


@post("/login", opt=PAGE_OPT, include_in_schema=False, status_code=303)
async def login(request: Request[Any, Any, Any]) -> Response[Any]:
    origin = request.headers.get("origin")
    if origin and origin != f"{request.url.scheme}://{request.url.netloc}" and origin != "null":
        # Another site posting a key into this browser (login CSRF): refuse.
        return _html("login.html", status=403, next="/", page="login", error="Sign in from this server's own page.")
    form = await request.form()
    key = str(form.get("key") or "").strip()
    target = _safe_next(str(form.get("next") or "/"))
    rt: Runtime = request.app.state.runtime
    found = None
    if key:
        async with rt.db.read() as conn:
            found = await key_by_secret(conn, key)
    if found is None:
        return _html("login.html", status=401, next=target, page="login",
                     error="That API key is not valid (or was revoked). Ask an admin: opsconductor keys create")
    key_id, key_hash, _ = found
    value, _expires = make_cookie(key_id, key_hash, time.time())
    response: Response[Any] = Redirect(target, status_code=303)
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    response.set_cookie(COOKIE, value, max_age=SESSION_S, path="/", httponly=True, samesite="strict", secure=secure)
    return response


@post("/logout", opt=PAGE_OPT, include_in_schema=False, status_code=303)
async def logout(request: Request[Any, Any, Any]) -> Response[Any]:
    response: Response[Any] = Redirect("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# -- alert list ----------------------------------------------------------------------------------

async def _list_context(request: Request[Any, Any, Any], session: Session) -> dict[str, Any]:
    opts = list_options({k: request.query_params.getall(k) for k in request.query_params})
    rt: Runtime = request.app.state.runtime
    problems = list(opts.problems)
    try:
        flt = opts.filter()
    except InputError as exc:
        problems.append(exc.detail)
        opts = ListOptions(sort=opts.sort, group=opts.group)
        flt = opts.filter()
    async with rt.db.read() as conn:
        rows, more = await list_alerts(conn, flt, sort=opts.sort, limit=LIST_LIMIT)
        children = await queries.children_of(conn, rows)
        counts = await count_alerts(conn)
        acked = [r["id"] for r in rows if r["status"] == "acknowledged"]
        acked += [c["id"] for kids in children.values() for c in kids if c["status"] == "acknowledged"]
        shelves = _shelves(await queries.latest_ack_texts(conn, acked))
    # A child shows under its (expandable) parent rather than twice in the list.
    child_ids = {c["id"] for kids in children.values() for c in kids}
    top = [r for r in rows if r["id"] not in child_ids]
    now = _now()
    return {**_base(session, "alerts"), "opts": opts, "groups": grouped(top, opts.group), "children": children,
            "total": len(rows), "more": more is not None, "problems": problems, "now": now, "age": age,
            "severities": SEVERITIES, "statuses": STATUSES, "open_statuses": OPEN, "sorts": SORTS,
            "group_fields": GROUP_FIELDS, "counts": severity_counts(counts, OPEN), "limit": LIST_LIMIT,
            "filtered": bool(opts.status or opts.severity or opts.labels or opts.q), "shelves": shelves}


def _shelves(texts: dict[int, str | None]) -> dict[int, str]:
    """Pure: alert id -> "HH:MM" (UTC) for the acknowledged alerts that are shelved."""
    out = {}
    for alert_id, text in texts.items():
        until = shelved_until(text)
        if until is not None:
            out[alert_id] = until.strftime("%H:%M" if until - _now() < timedelta(hours=20) else "%b %d %H:%M")
    return out


@get("/", opt=PAGE_OPT, include_in_schema=False)
async def alerts_page(request: Request[Any, Any, Any], tv: FromQuery[str | None] = None) -> Response[Any]:
    try:
        return await _alerts_page(request, tv)
    except Unavailable as exc:
        return _unavailable(exc)


async def _alerts_page(request: Request[Any, Any, Any], tv: str | None) -> Response[Any]:
    session = await _session(request)
    if session is None:
        return _to_login(request)
    if tv not in (None, "", "0"):  # /?tv=1 is the wall, like /tv
        return Redirect("/tv")
    return _html("alerts.html", **await _list_context(request, session))


@get("/console/fragment/alerts", opt=PAGE_OPT, include_in_schema=False)
async def alerts_fragment(request: Request[Any, Any, Any]) -> Response[Any]:
    session = await _need_session(request)
    return _html("alerts_body.html", **await _list_context(request, session))


# -- alert detail --------------------------------------------------------------------------------

async def _detail_context(request: Request[Any, Any, Any], session: Session, alert_id: int) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    async with rt.db.read() as conn:
        row, history = await get_alert(conn, alert_id)
        notifications = await queries.notifications_of(conn, alert_id)
        children = (await queries.children_of(conn, [row])).get(alert_id, [])
        parents = await queries.parents_of(conn, row)
        shelves = _shelves(await queries.latest_ack_texts(conn, [alert_id] if row["status"] == "acknowledged" else []))
    views = [history_dict(h) for h in history]
    return {**_base(session, "detail"), "alert": alert_dict(row), "row": row, "trace": row.get("trace") or [],
            "history": views, "notes": [h for h in views if h["kind"] == "note"], "notifications": notifications,
            "children": children, "parents": parents, "shelves": shelves, "now": _now(), "age": age}


@get("/alerts/{alert_id:int}", opt=PAGE_OPT, include_in_schema=False)
async def alert_page(request: Request[Any, Any, Any], alert_id: FromPath[int]) -> Response[Any]:
    try:
        return await _alert_page(request, alert_id)
    except Unavailable as exc:
        return _unavailable(exc)


async def _alert_page(request: Request[Any, Any, Any], alert_id: FromPath[int]) -> Response[Any]:
    session = await _session(request)
    if session is None:
        return _to_login(request)
    try:
        ctx = await _detail_context(request, session, alert_id)
    except NotFound as exc:
        return _html("error.html", status=404, **_base(session, "detail"), title="Not found", detail=exc.detail)
    return _html("alert.html", **ctx)


@get("/console/fragment/alerts/{alert_id:int}", opt=PAGE_OPT, include_in_schema=False)
async def alert_fragment(request: Request[Any, Any, Any], alert_id: FromPath[int]) -> Response[Any]:
    session = await _need_session(request)
    return _html("alert_body.html", **await _detail_context(request, session, alert_id))


# -- silences ------------------------------------------------------------------------------------

async def _silences_context(request: Request[Any, Any, Any], session: Session) -> dict[str, Any]:
    from opsconductor.api.silences import list_silences

    data = await list_silences.fn(request.app.state, status="all", limit=200)
    return {**_base(session, "silences"), "silences": msgspec.to_builtins(data.silences)}


@get("/silences", opt=PAGE_OPT, include_in_schema=False)
async def silences_page(request: Request[Any, Any, Any]) -> Response[Any]:
    try:
        return await _silences_page(request)
    except Unavailable as exc:
        return _unavailable(exc)


async def _silences_page(request: Request[Any, Any, Any]) -> Response[Any]:
    session = await _session(request)
    if session is None:
        return _to_login(request)
    prefill = [(k, v) for k, v in request.query_params.items() if k in ("resource", "event", "component")]
    return _html("silences.html", **await _silences_context(request, session), prefill=prefill)


@get("/console/fragment/silences", opt=PAGE_OPT, include_in_schema=False)
async def silences_fragment(request: Request[Any, Any, Any]) -> Response[Any]:
    session = await _need_session(request)
    return _html("silences_body.html", **await _silences_context(request, session))


@get("/console/preview", opt=PAGE_OPT, include_in_schema=False)
async def silence_preview(request: Request[Any, Any, Any], matchers: FromQuery[str] = "{}") -> Response[Any]:
    """The open alerts a silence with these matchers (JSON, rule matcher language) would hit."""
    session = await _need_session(request)
    try:
        data = json.loads(matchers)
    except ValueError:
        raise InputError("matchers must be a JSON object") from None
    errors: list[str] = []
    hits: list[Any] = []
    count, truncated = 0, False
    if not isinstance(data, dict) or not data:
        errors.append("add at least one matcher to see what it would silence")
    else:
        matcher, problems = parse_matcher(data, "matchers")
        errors = [p.message if not p.field else f"{p.field}: {p.message}" for p in problems]
        if not errors:
            rt: Runtime = request.app.state.runtime
            async with rt.db.read() as conn:
                count, hits, truncated = await queries.preview(conn, matcher)
    return _html("preview.html", **_base(session, "silences"), errors=errors, count=count, hits=hits,
                 truncated=truncated, now=_now(), age=age)


# -- TV mode -------------------------------------------------------------------------------------

async def _tv_context(request: Request[Any, Any, Any], session: Session) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    async with rt.db.read() as conn:
        counts = await count_alerts(conn)
        from opsconductor.store.alert_queries import AlertFilter

        rows, _ = await list_alerts(conn, AlertFilter(status=("active",)), sort="-severity", limit=30)
    return {**_base(session, "tv"), "counts": severity_counts(counts), "rows": rows, "now": _now(), "age": age,
            "acked": sum(v.get("acknowledged", 0) for v in counts.values()),
            "suppressed": sum(v.get("suppressed", 0) for v in counts.values())}


@get("/tv", opt=PAGE_OPT, include_in_schema=False)
async def tv_page(request: Request[Any, Any, Any]) -> Response[Any]:
    try:
        return await _tv_page(request)
    except Unavailable as exc:
        return _unavailable(exc)


async def _tv_page(request: Request[Any, Any, Any]) -> Response[Any]:
    session = await _session(request)
    if session is None:
        return _to_login(request)
    return _html("tv.html", **await _tv_context(request, session))


@get("/console/fragment/tv", opt=PAGE_OPT, include_in_schema=False)
async def tv_fragment(request: Request[Any, Any, Any]) -> Response[Any]:
    session = await _need_session(request)
    return _html("tv_body.html", **await _tv_context(request, session))


STATIC = create_static_files_router(path="/console/static", directories=[HERE / "static"], opt=PAGE_OPT,
                                    include_in_schema=False, name="console-static")

ROUTES = [login_page, login, logout, alerts_page, alerts_fragment, alert_page, alert_fragment, silences_page,
          silences_fragment, silence_preview, tv_page, tv_fragment, stream, STATIC]
