"""Alertmanager API v2, read and silence parts, on our alerts, silences and notify routes.

``POST /api/v2/alerts`` (Prometheus pushing) lives in ``push.py``. These routes use the same
API keys (``Authorization: Bearer``; amtool sends it from ``--http.config.file``). Mapping
rules: ``am_views`` (alerts, states, silences), ``am_matchers`` (labels and matchers),
``am_config`` (routes). Errors here are answered in Alertmanager's form (``am_errors``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from litestar import Request, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from opsconductor import __version__
from opsconductor.api.am_config import alertmanager_config
from opsconductor.api.am_matchers import AmMatcher, check_regex, parse_filter, to_silence_matchers
from opsconductor.api.am_views import (
    UNROUTED,
    AlertGroup,
    AlertmanagerStatus,
    AmConfig,
    ClusterStatus,
    GettableAlert,
    GettableSilence,
    PostableSilence,
    Receiver,
    SilenceCreated,
    VersionInfo,
    am_labels,
    gettable_alert,
    gettable_silence,
    group_labels,
    iso,
    keep,
    silence_id_of,
    silence_matches_filter,
    silence_uuid,
)
from opsconductor.api.contract import errors
from opsconductor.correlate.am_queries import (
    add_silence,
    expire_silence,
    get_silence,
    list_silences,
    open_alerts,
)
from opsconductor.correlate.install import reevaluate_now
from opsconductor.correlate.parser import parse_matcher
from opsconductor.errors import InputError
from opsconductor.notify.config import EMPTY, NotifyConfig, Route
from opsconductor.notify.routing import match_routes
from opsconductor.runtime import Runtime
from opsconductor.store.api_keys import Principal

MAX_SILENCE = timedelta(days=366)
# The Alertmanager release whose API v2 this follows. Clients pick their API mapping by this
# version (karma refuses anything below 0.17.0), so it names the API level, not our release.
AM_API_LEVEL = "0.25.0"
Filter = Annotated[list[str] | None, QueryParameter(description='Matchers, e.g. alertname="link_down"')]


def _notify(rt: Runtime) -> NotifyConfig:
    config = rt.notify.config if rt.notify else None
    return config if isinstance(config, NotifyConfig) else EMPTY


def _receiver_regex(receiver: str | None) -> re.Pattern[str] | None:
    if not receiver:
        return None
    check_regex(receiver)
    return re.compile(receiver)


async def _alerts(rt: Runtime, matchers: list[AmMatcher]) -> list[tuple[GettableAlert, list[Route]]]:
    """The open alerts whose labels match, as Alertmanager shows them, with the notify routes that take them."""
    async with rt.db.read() as conn:
        rows = await open_alerts(conn)
    now = rt.pipeline.clock()
    root = _notify(rt).route
    open_by_event = {(r["event"], r["resource"]): r["fingerprint"] for r in rows if r["status"] != "suppressed"}
    out = []
    for row in rows:
        if matchers and not all(m.matches(am_labels(row)) for m in matchers):
            continue  # the label filter first: routing every alert is the expensive part
        routes = match_routes(root, row, now)
        alert = gettable_alert(row, [r.receiver for r in routes], open_by_event, rt.settings.public_url)
        out.append((alert, routes))
    return out


def _matchers(flt: list[str] | None) -> list[AmMatcher]:
    return parse_filter(flt)


@get("/api/v2/alerts", opt={"scope": "read"}, tags=["alertmanager"], responses=errors())
async def get_alerts(state: State, filter: Filter = None, active: FromQuery[bool] = True,
                     silenced: FromQuery[bool] = True, inhibited: FromQuery[bool] = True,
                     unprocessed: FromQuery[bool] = True,
                     receiver: FromQuery[str | None] = None) -> list[GettableAlert]:
    """Open alerts (Alertmanager ``getAlerts``); acknowledged ones carry annotation ``acknowledged``."""
    matchers, rx = _matchers(filter), _receiver_regex(receiver)
    return [a for a, _ in await _alerts(state.runtime, matchers)
            if keep(a, matchers, active=active, silenced=silenced, inhibited=inhibited, receiver=rx)]


@get("/api/v2/alerts/groups", opt={"scope": "read"}, tags=["alertmanager"], responses=errors())
async def get_alert_groups(state: State, filter: Filter = None, active: FromQuery[bool] = True,
                           silenced: FromQuery[bool] = True, inhibited: FromQuery[bool] = True,
                           receiver: FromQuery[str | None] = None) -> list[AlertGroup]:
    """Open alerts grouped as the notify routes group them (per receiver and ``group_by``)."""
    matchers, rx = _matchers(filter), _receiver_regex(receiver)
    groups: dict[tuple[str, str, tuple[tuple[str, str], ...]], AlertGroup] = {}
    for alert, routes in await _alerts(state.runtime, matchers):
        if not keep(alert, matchers, active=active, silenced=silenced, inhibited=inhibited, receiver=None):
            continue
        for route_id, name, group_by in [(r.id, r.receiver, r.group_by) for r in routes] or [("", UNROUTED, ())]:
            if rx is not None and not rx.fullmatch(name):
                continue
            labels = group_labels(group_by, alert.labels)
            key = (name, route_id, tuple(sorted(labels.items())))
            groups.setdefault(key, AlertGroup(labels, Receiver(name), [])).alerts.append(alert)
    return list(groups.values())


@get("/api/v2/silences", opt={"scope": "read"}, tags=["alertmanager"], responses=errors())
async def get_silences(state: State, filter: Filter = None) -> list[GettableSilence]:
    """Silences (Alertmanager ``getSilences``); ``filter`` keeps those having every given matcher."""
    rt: Runtime = state.runtime
    wanted = _matchers(filter)
    now = rt.pipeline.clock()
    async with rt.db.read() as conn:
        rows = await list_silences(conn)
    return [s for s in (gettable_silence(r, now) for r in rows) if silence_matches_filter(s, wanted)]


@get("/api/v2/silence/{silence_id:str}", opt={"scope": "read"}, tags=["alertmanager"], responses=errors(404))
async def get_one_silence(state: State, silence_id: FromPath[str]) -> GettableSilence:
    rt: Runtime = state.runtime
    async with rt.db.read() as conn:
        row = await get_silence(conn, silence_id_of(silence_id))
    return gettable_silence(row, rt.pipeline.clock())


@delete("/api/v2/silence/{silence_id:str}", opt={"scope": "write"}, tags=["alertmanager"], status_code=200,
        responses=errors(404, 409))
async def delete_silence(state: State, request: Request[Any, Any, Any], silence_id: FromPath[str]) -> None:
    """Expire a silence now (it stays, expired, for history); its alerts are re-evaluated at once."""
    rt: Runtime = state.runtime
    user: Principal = request.user
    async with rt.db.write() as conn:
        await expire_silence(conn, silence_id_of(silence_id), actor=user.name, now=rt.pipeline.clock())
    await reevaluate_now(rt)


def _validate(body: PostableSilence, now: datetime) -> tuple[dict[str, Any], datetime, datetime]:
    if not body.matchers:
        raise InputError("silence must have at least one matcher")
    if not body.comment.strip():
        raise InputError("silence must have a comment (say why)")
    if any(not m.name.strip() for m in body.matchers):
        raise InputError("a matcher needs a label name")
    ams = [AmMatcher(m.name, m.value, m.isRegex, m.isEqual) for m in body.matchers]
    for m in ams:
        if m.is_regex:
            check_regex(m.value)
    matchers = to_silence_matchers(ams)
    _, errors = parse_matcher(matchers, "matchers")
    if errors:
        raise InputError("; ".join(e.message for e in errors))
    starts, ends = body.startsAt, body.endsAt
    if starts.tzinfo is None or ends.tzinfo is None:
        raise InputError("startsAt and endsAt must carry a timezone offset (RFC 3339)")
    starts = max(starts.astimezone(UTC), now)  # as Alertmanager: a start in the past means now
    if ends <= now:
        raise InputError("silence end time can't be in the past")
    if ends <= starts:
        raise InputError("silence cannot start after it ends")
    if ends - starts > MAX_SILENCE:
        raise InputError("a silence lasts at most a year")
    return matchers, starts, ends.astimezone(UTC)


@post("/api/v2/silences", opt={"scope": "write"}, tags=["alertmanager"], status_code=200,
      responses=errors(404, 409, 422))
async def post_silences(state: State, request: Request[Any, Any, Any],
                        data: JSONBody[PostableSilence]) -> SilenceCreated:
    """Create a silence (Alertmanager ``postSilences``); with ``id``, replace that silence by this one."""
    rt: Runtime = state.runtime
    user: Principal = request.user
    now = rt.pipeline.clock()
    matchers, starts, ends = _validate(data, now)
    author = data.createdBy.strip()
    created_by = user.name if not author or author == user.name else f"{author} (key {user.name})"
    async with rt.db.write() as conn:
        if data.id:
            old = await get_silence(conn, silence_id_of(data.id))
            if old["ends_at"] > now:
                await expire_silence(conn, old["id"], actor=user.name, now=now)
        row = await add_silence(conn, matchers=matchers, starts_at=starts, ends_at=ends,
                                comment=data.comment.strip(), created_by=created_by[:255], now=now)
    await reevaluate_now(rt)  # alerts already open under the silence are suppressed now
    return SilenceCreated(silence_uuid(row["id"]))


@get("/api/v2/receivers", opt={"scope": "read"}, tags=["alertmanager"], responses=errors())
async def get_receivers(state: State) -> list[Receiver]:
    """The notify receivers by name (and ``unrouted``, the receiver of alerts no route takes)."""
    names = sorted(_notify(state.runtime).receivers)
    return [Receiver(n) for n in [*names, UNROUTED] if n != UNROUTED or UNROUTED not in names]


@get("/api/v2/status", opt={"scope": "read"}, tags=["alertmanager"], responses=errors())
async def get_status(state: State) -> AlertmanagerStatus:
    """Version, uptime, and the notify routing as an Alertmanager configuration (``config.original``)."""
    rt: Runtime = state.runtime
    started: datetime = getattr(state, "started_at", None) or rt.pipeline.clock()
    return AlertmanagerStatus(
        cluster=ClusterStatus(status="disabled", name="opsconductor", peers=[]),
        versionInfo=VersionInfo(version=AM_API_LEVEL, revision=f"opsconductor {__version__}", branch="opsconductor",
                                buildUser="opsconductor", buildDate="", goVersion="none (OpsConductor is Python)"),
        config=AmConfig(alertmanager_config(_notify(rt), str(rt.settings.notify_file))),
        uptime=iso(started))


ROUTES = [get_alerts, get_alert_groups, get_silences, get_one_silence, delete_silence, post_silences,
          get_receivers, get_status]
