"""``POST /api/v1/rules/replay``: what a rule change would have done to the stored event log.

The body carries the new rule files (``{"rules": {"30-devices.yaml": "<yaml>", ...}, "since": "7d"}``);
they are replayed, with the live rule set as the base, in isolation: private temporary
databases, no notifications. Rule errors answer 422 with ``file:line:col``.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
from litestar import post
from litestar.datastructures import State
from litestar.params import JSONBody

from opsconductor.api.contract import errors as problem_responses
from opsconductor.correlate.correlator import RulesCorrelator
from opsconductor.correlate.loader import load_ruleset
from opsconductor.correlate.replay import read_log, replay_diff
from opsconductor.correlate.replay_cli import notify_file_in
from opsconductor.correlate.rules import parse_duration
from opsconductor.correlate.service import compile_ruleset
from opsconductor.errors import FieldProblem, Unavailable, ValidationFailed
from opsconductor.runtime import Runtime

MAX_EVENTS = 1_000_000
_NAME = r"^[A-Za-z0-9_.-]{1,128}\.ya?ml$"


class ReplayRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The new rule files (name -> YAML) and how much of the event log to replay."""

    rules: dict[str, str]
    since: str = "7d"
    limit: int = MAX_EVENTS


class ReplaySummary(msgspec.Struct):
    """One replay: its rule set version, the alerts it made, how fast it ran."""

    version: str
    alerts: int
    created_active: int
    created_suppressed: int
    notified: int
    seconds: float
    events_per_s: int


class ReplayExample(msgspec.Struct):
    """One alert that differs: as each rule set left it (null: not created)."""

    alert: str
    base: dict[str, Any] | None
    new: dict[str, Any] | None


class ReplayDifference(msgspec.Struct):
    rule: str
    change: str
    count: int
    examples: list[ReplayExample]


class ReplayDiff(msgspec.Struct):
    """What the new rules would have done differently to the replayed events."""

    events: int
    base: ReplaySummary
    new: ReplaySummary
    changed: bool
    differences: list[ReplayDifference]


@post("/api/v1/rules/replay", opt={"scope": "admin"}, tags=["rules"], status_code=200,
      responses=problem_responses(422))
async def replay_rules(state: State, data: JSONBody[ReplayRequest]) -> ReplayDiff:
    """Replay the event log through the live rules and through ``rules``; the diff (``changed``,
    ``differences`` per rule and change, with examples). Nothing is written, nothing notified."""
    rt: Runtime = state.runtime
    body = data
    import re

    problems = [FieldProblem(f"rules.{n[:128]}", "file names are <letters, digits, _ . ->.yaml")
                for n in body.rules if not re.match(_NAME, n)]
    since = parse_duration(body.since)
    if since is None or since <= 0:
        problems.append(FieldProblem("since", "a duration such as 90m, 12h or 7d"))
    if not body.rules:
        problems.append(FieldProblem("rules", "give the new rule files: {name.yaml: content}"))
    if not 1 <= body.limit <= MAX_EVENTS:
        problems.append(FieldProblem("limit", f"from 1 to {MAX_EVENTS}"))
    if problems:
        raise ValidationFailed("invalid replay request", problems)
    assert since is not None
    correlator = rt.pipeline.correlator
    if not isinstance(correlator, RulesCorrelator):
        raise Unavailable("the rules engine is not installed")
    tmp = Path(tempfile.mkdtemp(prefix="opsconductor-replay-rules-"))
    try:
        for name, text in body.rules.items():
            (tmp / name).write_text(text, encoding="utf-8")
        rs, errors = load_ruleset([tmp])
        if errors:
            raise ValidationFailed("the new rules do not check", [
                FieldProblem("rules", str(e).replace(str(tmp) + "/", "")) for e in errors])
        new = compile_ruleset(rs)
        async with rt.db.read() as conn:
            log = await read_log(conn, rt.pipeline.clock() - timedelta(seconds=since), body.limit)
        notify = notify_file_in([tmp], rt.settings.effective_notify_file)
        base = compile_ruleset(correlator.current.ruleset)  # its own engine: the live worker stays the live one
        report = await replay_diff(base, new, log, graph=correlator.topology_graph,
                                   inventory=correlator.inventory,
                                   base_notify=notify_file_in([], rt.settings.effective_notify_file),
                                   new_notify=notify)
        return msgspec.convert(report, ReplayDiff)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


ROUTES = [replay_rules]
