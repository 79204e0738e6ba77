"""The rules API: list, status, reload, explain an event, explain a stored alert."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Response, get, post
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody

from opsconductor.api.contract import NoBody, errors, json_body
from opsconductor.api.params import IdPath
from opsconductor.correlate.correlator import RulesCorrelator
from opsconductor.correlate.explain import decision_view
from opsconductor.correlate.service import RulesService
from opsconductor.errors import FieldProblem, Unavailable, ValidationFailed
from opsconductor.model.alert import AlertStatus
from opsconductor.model.event import Severity
from opsconductor.model.lifecycle import EventTrigger, transition
from opsconductor.normalize.validate import validate_events
from opsconductor.runtime import Runtime
from opsconductor.store.alert_queries import get_alert
from opsconductor.store.alert_writer import load_open_alerts


def _service(rt: Runtime) -> RulesService:
    svc = rt.rules
    if not isinstance(svc, RulesService):
        raise Unavailable("the rules engine is not installed")
    return svc


class RuleView(msgspec.Struct):
    id: str
    kind: str
    description: str | None
    file: str
    line: int
    col: int
    order: int


class RuleList(msgspec.Struct):
    version: str
    rules: list[RuleView]


class ReloadStatus(msgspec.Struct):
    """One reload attempt: ok, or its file:line:col errors and failing rule tests."""

    ok: bool
    version: str | None
    at: str
    rules: int
    errors: list[str]
    test_failures: list[str]
    duration_s: float


class RulesStatus(msgspec.Struct):
    live_version: str
    last_reload: ReloadStatus
    last_good_reload: ReloadStatus | None
    engine_worker_pid: int | None
    rules_dir: str


class DecisionView(msgspec.Struct):
    """What the rules decide for an event, the trace of each stage, and the outcome it would have now."""

    fingerprint: str
    severity: Severity
    drop: bool
    suppressed_reason: str | None
    rule_id: str | None
    ruleset_version: str | None
    trace: list[dict[str, Any]]
    outcome: str | None


class AlertExplanation(msgspec.Struct):
    id: int
    fingerprint: str
    status: AlertStatus
    severity: Severity
    rule_id: str | None
    ruleset_version: str | None
    suppressed_reason: str | None
    trace: list[dict[str, Any]]


@get("/api/v1/rules", opt={"scope": "read"}, tags=["rules"], responses=errors())
async def list_rules(state: State) -> RuleList:
    """Every live rule, in evaluation (load) order, with where it is defined."""
    svc = _service(state.runtime)
    compiled = svc.correlator.current
    return RuleList(compiled.version, [
        RuleView(id=r.id, kind=r.kind, description=r.description, file=r.where.file, line=r.where.line,
                 col=r.where.col, order=r.index) for r in compiled.ruleset.rules])


@get("/api/v1/rules/status", opt={"scope": "read"}, tags=["rules"], responses=errors())
async def rules_status(state: State) -> RulesStatus:
    """The last reload attempt (ok or why not), the live version and the engine worker."""
    svc = _service(state.runtime)
    return RulesStatus(
        live_version=svc.correlator.version,
        last_reload=msgspec.convert(svc.status.as_dict(), ReloadStatus),
        last_good_reload=msgspec.convert(svc.last_good.as_dict(), ReloadStatus) if svc.last_good else None,
        engine_worker_pid=svc.worker_pid,
        rules_dir=str(svc.rules_dir),
    )


@post("/api/v1/rules/reload", opt={"scope": "admin"}, tags=["rules"], status_code=200,
      responses={**errors(), 422: ResponseSpec(ReloadStatus, description="Refused: the running set stays")})
async def reload_rules(state: State, data: JSONBody[NoBody | None] = None) -> Response[ReloadStatus]:
    """Check, test, compile and swap in the rules from disk; 422 (running set kept) if they fail."""
    status = await _service(state.runtime).reload()
    return Response(msgspec.convert(status.as_dict(), ReloadStatus), status_code=200 if status.ok else 422)


@post("/api/v1/rules/explain", opt={"scope": "read"}, tags=["rules"], status_code=200, responses=errors(422))
async def explain_event(
    state: State, data: Annotated[Any, json_body("The event to explain (nothing is stored)", "Event")]
) -> DecisionView:
    """Which rules match this event, in order, and what would happen now. No side effect."""
    rt: Runtime = state.runtime
    # The intake's validator: explain refuses exactly what POST /api/v1/events refuses.
    if not isinstance(data, dict):
        raise ValidationFailed("explain takes one event object", [FieldProblem("(root)", "expected an object")])
    event = validate_events(data, max_items=1)[0]
    correlator = rt.pipeline.correlator
    if not isinstance(correlator, RulesCorrelator):
        raise Unavailable("the rules engine is not installed")
    async with rt.db.read() as conn:
        d = await correlator.explain(conn, event)
        current = None if d.drop else (await load_open_alerts(conn, [d.fingerprint], for_update=False)).get(
            d.fingerprint)
    try:
        outcome = transition(current, EventTrigger(d, rt.pipeline.default_timeout), rt.pipeline.clock()).outcome
    except OverflowError:  # e.g. occurred_at in year 9999: its expiry would be past the calendar
        raise ValidationFailed("the event cannot be processed", [
            FieldProblem("occurred_at", "too far in the past or future to compute the alert's expiry")]) from None
    return msgspec.convert({**decision_view(d), "outcome": outcome.value if outcome is not None else None},
                           DecisionView)


@get("/api/v1/alerts/{alert_id:int}/explain", opt={"scope": "read"}, tags=["rules", "alerts"],
     responses=errors(404))
async def explain_alert(state: State, alert_id: IdPath) -> AlertExplanation:
    """The stored decision trace of an alert: which rules set its identity, severity, suppression."""
    rt: Runtime = state.runtime
    async with rt.db.read() as conn:
        row, _ = await get_alert(conn, alert_id)
    return msgspec.convert({k: row[k] for k in AlertExplanation.__struct_fields__}, AlertExplanation)


ROUTES = [list_rules, rules_status, reload_rules, explain_event, explain_alert]
