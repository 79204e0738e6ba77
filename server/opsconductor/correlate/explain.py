"""Offline explain: the decision for one event against rules on disk, with empty state.

``opsconductor rules explain EVENT.json`` has no server and no database: it shows
which rules match, in order, and what they decide (identity, severity, drop,
maintenance, flap/correlation bookkeeping). State-dependent outcomes (API
silences, inhibiting alerts, correlation counts) need the live server:
``POST /api/v1/rules/explain``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opsconductor.correlate.correlator import RulesCorrelator
from opsconductor.correlate.loader import load_ruleset
from opsconductor.correlate.service import compile_ruleset
from opsconductor.errors import ConfigErrors, InputError
from opsconductor.model.decision import AcceptedEvent, Decision
from opsconductor.model.event import NormalizedEvent
from opsconductor.store.alert_store import utcnow


async def explain_offline(paths: Sequence[Path], data: Any) -> dict[str, Any]:
    rs, errors = load_ruleset(paths)
    if errors:
        raise ConfigErrors(errors)
    try:
        event = NormalizedEvent.model_validate(data)
    except ValueError as exc:
        raise InputError(f"invalid event: {exc}") from None
    correlator = RulesCorrelator(compile_ruleset(rs), utcnow)
    d = (await correlator.decide_offline([AcceptedEvent(0, event, utcnow())]))[0]
    return decision_view(d)


def decision_view(d: Decision) -> dict[str, Any]:
    """What explain shows of a decision (the CLI and the API alike)."""
    return {
        "fingerprint": d.fingerprint,
        "severity": d.severity.value,
        "drop": d.drop,
        "suppressed_reason": d.suppressed_reason,
        "rule_id": d.rule_id,
        "ruleset_version": d.ruleset_version,
        "trace": list(d.trace),
    }
