"""The rules API: list, status, reload, explain an event, explain a stored alert."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath
from pydantic import ValidationError
from sqlalchemy import select

from opsconductor.api.events import parse_json_body
from opsconductor.correlate.correlator import RulesCorrelator
from opsconductor.correlate.explain import decision_view
from opsconductor.correlate.service import RulesService
from opsconductor.errors import FieldProblem, NotFound, Unavailable, ValidationFailed
from opsconductor.model.event import NormalizedEvent
from opsconductor.normalize.validate import check_times
from opsconductor.runtime import Runtime
from opsconductor.store.alert_writer import ALERTS, load_open_alerts
from opsconductor.store.lifecycle import apply_decision


def _service(rt: Runtime) -> RulesService:
    svc = rt.components.get("rules")
    if not isinstance(svc, RulesService):
        raise Unavailable("the rules engine is not installed")
    return svc


@get("/api/v1/rules", opt={"scope": "read"}, tags=["rules"])
async def list_rules(state: State) -> dict[str, Any]:
    """Every live rule, in evaluation (load) order, with where it is defined."""
    svc = _service(state.runtime)
    compiled = svc.correlator.current
    return {
        "version": compiled.version,
        "rules": [{"id": r.id, "kind": r.kind, "description": r.description, "file": r.where.file,
                   "line": r.where.line, "col": r.where.col, "order": r.index} for r in compiled.ruleset.rules],
    }


@get("/api/v1/rules/status", opt={"scope": "read"}, tags=["rules"])
async def rules_status(state: State) -> dict[str, Any]:
    """The last reload attempt (ok or why not), the live version and the engine worker."""
    svc = _service(state.runtime)
    return {
        "live_version": svc.correlator.version,
        "last_reload": svc.status.as_dict(),
        "last_good_reload": svc.last_good.as_dict() if svc.last_good else None,
        "engine_worker_pid": svc.worker_pid,
        "rules_dir": str(svc.rules_dir),
    }


@post("/api/v1/rules/reload", opt={"scope": "admin"}, tags=["rules"], status_code=200)
async def reload_rules(state: State) -> Response[dict[str, Any]]:
    """Check, test, compile and swap in the rules from disk; 422 (running set kept) if they fail."""
    status = await _service(state.runtime).reload()
    return Response(status.as_dict(), status_code=200 if status.ok else 422)


def _decision_view(d: Any, outcome: str | None) -> dict[str, Any]:
    return {**decision_view(d), "outcome": outcome}


@post("/api/v1/rules/explain", opt={"scope": "read"}, tags=["rules"], status_code=200)
async def explain_event(state: State, request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Which rules match this event, in order, and what would happen now. No side effect."""
    rt: Runtime = state.runtime
    data = parse_json_body(await request.body())
    try:
        event = NormalizedEvent.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed("invalid event", [
            FieldProblem(".".join(str(x) for x in e["loc"]), e["msg"]) for e in exc.errors()]) from None
    check_times([event], rt.pipeline.clock(), rt.settings.max_future_skew_s, single=True)
    correlator = rt.pipeline.correlator
    if not isinstance(correlator, RulesCorrelator):
        raise Unavailable("the rules engine is not installed")
    async with rt.db.read() as conn:
        d = await correlator.explain(conn, event)
        current = None if d.drop else (await load_open_alerts(conn, [d.fingerprint], for_update=False)).get(
            d.fingerprint)
    outcome = apply_decision(current, d, rt.pipeline.clock(), default_timeout=rt.pipeline.default_timeout).outcome
    return _decision_view(d, outcome.value)


@get("/api/v1/alerts/{alert_id:int}/explain", opt={"scope": "read"}, tags=["rules", "alerts"])
async def explain_alert(state: State, alert_id: FromPath[int]) -> dict[str, Any]:
    """The stored decision trace of an alert: which rules set its identity, severity, suppression."""
    rt: Runtime = state.runtime
    async with rt.db.read() as conn:
        row = (await conn.execute(select(ALERTS).where(ALERTS.c.id == alert_id))).mappings().first()
    if row is None:
        raise NotFound(f"no alert with id {alert_id}")
    return {"id": row["id"], "fingerprint": row["fingerprint"], "status": row["status"],
            "severity": row["severity"], "rule_id": row["rule_id"], "ruleset_version": row["ruleset_version"],
            "suppressed_reason": row["suppressed_reason"], "trace": row["trace"]}


ROUTES = [list_rules, rules_status, reload_rules, explain_event, explain_alert]
