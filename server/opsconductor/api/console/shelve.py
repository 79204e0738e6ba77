"""Shelve: acknowledge for a while. The alert comes back (unacknowledged) when the time is up.

The end time is kept where every worker can see it and a restart cannot lose it: in the
text of the ``ack`` history entry (``shelved until <RFC 3339>``). A small loop on each
process unacknowledges the alerts whose latest ack is a shelve that has ended; a second
process doing the same finds them already unacknowledged and skips them.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import msgspec
from litestar import Request, post
from litestar.params import JSONBody

from opsconductor.correlate.rules import parse_duration
from opsconductor.errors import InputError
from opsconductor.model.alert import Action
from opsconductor.runtime import Runtime
from opsconductor.shelving import MAX_SHELVE, PREFIX, shelve_text
from opsconductor.store.api_keys import Principal

log = logging.getLogger(__name__)

class _Body(msgspec.Struct, forbid_unknown_fields=True):
    ids: list[int]
    duration: str
    text: str | None = None


@post("/console/shelve", opt={"scope": "write"}, status_code=200, include_in_schema=False)
async def shelve(request: Request[Any, Any, Any], data: JSONBody[_Body]) -> dict[str, Any]:
    """Acknowledge these alerts until now + duration; open alerts only, others are skipped."""
    body = data
    seconds = parse_duration(body.duration)
    if seconds is None or seconds <= 0 or timedelta(seconds=seconds) > MAX_SHELVE:
        raise InputError("duration: use e.g. 30m, 2h, 1d (at most 30d)")
    if not body.ids:
        raise InputError("ids: give at least one alert id")
    rt: Runtime = request.app.state.runtime
    user: Principal = request.user
    now = rt.pipeline.clock()
    text = shelve_text(now + timedelta(seconds=seconds), body.text)
    rows = await rt.pipeline.act(body.ids, Action.ack, actor=user.name, text=text, skip_conflicts=True)
    return {"changed": len(rows), "ids": [r["id"] for r in rows], "until": text[len(PREFIX):]}


ROUTES = [shelve]
