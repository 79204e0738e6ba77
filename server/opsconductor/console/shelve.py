"""Shelve: acknowledge for a while. The alert comes back (unacknowledged) when the time is up.

The end time is kept where every worker can see it and a restart cannot lose it: in the
text of the ``ack`` history entry (``shelved until <RFC 3339>``). A small loop on each
process unacknowledges the alerts whose latest ack is a shelve that has ended; a second
process doing the same finds them already unacknowledged and skips them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

import msgspec
from litestar import Request, post
from sqlalchemy import and_, func, select

from opsconductor.api.events import parse_json_body
from opsconductor.correlate.rules import parse_duration
from opsconductor.errors import InputError
from opsconductor.runtime import Runtime
from opsconductor.store.alert_actions import Action, apply_action
from opsconductor.store.alert_writer import ALERTS, HISTORY
from opsconductor.store.api_keys import Principal

log = logging.getLogger(__name__)

PREFIX = "shelved until "
MAX_SHELVE = timedelta(days=30)
ACTOR = "shelve"


def shelve_text(until: datetime, text: str | None) -> str:
    stamp = until.isoformat().replace("+00:00", "Z")
    return PREFIX + stamp + (f": {text.strip()}" if text and text.strip() else "")


def shelved_until(text: str | None) -> datetime | None:
    """Pure: the end of a shelve from its ack text, None if the ack is not a shelve."""
    if not text or not text.startswith(PREFIX):
        return None
    stamp = text[len(PREFIX):].split(": ", 1)[0].strip()
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    ids: list[int]
    duration: str
    text: str | None = None


@post("/console/shelve", opt={"scope": "write"}, status_code=200, include_in_schema=False)
async def shelve(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Acknowledge these alerts until now + duration; open alerts only, others are skipped."""
    try:
        body = msgspec.convert(parse_json_body(await request.body()), _Body)
    except msgspec.ValidationError as exc:
        raise InputError(f"invalid body: {exc}") from None
    seconds = parse_duration(body.duration)
    if seconds is None or seconds <= 0 or timedelta(seconds=seconds) > MAX_SHELVE:
        raise InputError("duration: use e.g. 30m, 2h, 1d (at most 30d)")
    if not body.ids:
        raise InputError("ids: give at least one alert id")
    rt: Runtime = request.app.state.runtime
    user: Principal = request.user
    now = rt.pipeline.clock()
    text = shelve_text(now + timedelta(seconds=seconds), body.text)
    async with rt.db.write() as conn:
        rows = await apply_action(conn, body.ids, Action.ack, actor=user.name, now=now, text=text,
                                  sink=rt.pipeline.sink, skip_conflicts=True)
    return {"changed": len(rows), "ids": [r["id"] for r in rows], "until": text[len(PREFIX):]}


async def unshelve_due(rt: Runtime) -> int:
    """Unacknowledge every alert whose latest ack is a shelve that has ended; returns how many."""
    now = rt.pipeline.clock()
    latest_ack = (select(func.max(HISTORY.c.id)).where(and_(HISTORY.c.alert_id == ALERTS.c.id,
                                                            HISTORY.c.kind == "ack"))
                  .correlate(ALERTS).scalar_subquery())
    stmt = (select(ALERTS.c.id, HISTORY.c.text).join(HISTORY, HISTORY.c.id == latest_ack)
            .where(ALERTS.c.status == "acknowledged", HISTORY.c.text.like(PREFIX + "%")))
    async with rt.db.read() as conn:
        rows = (await conn.execute(stmt)).all()
    due = [r.id for r in rows if (until := shelved_until(r.text)) is not None and until <= now]
    if not due:
        return 0
    async with rt.db.write() as conn:
        changed = await apply_action(conn, due, Action.unack, actor=ACTOR, now=now, text="shelve ended",
                                     sink=rt.pipeline.sink, skip_conflicts=True)
    return len(changed)


def install(rt: Runtime) -> None:
    """Run the unshelve loop for the life of the runtime (every housekeeping interval)."""
    interval = max(0.1, float(getattr(rt.settings, "housekeeping_interval_s", 10.0)))

    async def loop() -> None:
        while True:
            try:
                await unshelve_due(rt)
            except Exception as exc:  # the database may be away; housekeeping reports that
                log.warning("unshelve pass failed: %s", exc)
            await asyncio.sleep(interval)

    async def start(runtime: Runtime) -> None:
        runtime.spawn(loop, "console-unshelve")

    rt.on_start(start)


ROUTES = [shelve]
