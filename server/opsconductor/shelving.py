"""Shelve: acknowledge for a while. The alert comes back (unacknowledged) when the time is up.

The end time is kept where every worker can see it and a restart cannot lose it: in the
text of the ``ack`` history entry (``shelved until <RFC 3339>``). A small loop on each
process unacknowledges the alerts whose latest ack is a shelve that has ended; a second
process doing the same finds them already unacknowledged and skips them. The console's
``POST /console/shelve`` starts a shelve; this module ends them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select

from opsconductor.model.alert import Action
from opsconductor.runtime import Runtime
from opsconductor.store.alert_writer import ALERTS, HISTORY

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
    changed = await rt.pipeline.act(due, Action.unack, actor=ACTOR, text="shelve ended", skip_conflicts=True)
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


