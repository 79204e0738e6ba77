"""Two-way sync, the database part: receipts of inbound changes and the checks that find their alert.

A receipt (``notify_inbound``) is claimed before the change is applied, keyed by the service's
delivery, so a replayed or concurrent duplicate changes nothing; the outcome is written after.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.notify.inbound import Inbound, split_ref
from opsconductor.notify.tables import INBOUND, STATE
from opsconductor.store.alert_writer import ALERTS
from opsconductor.store.db import Database


async def claim(db: Database, *, receiver: str, key: str, now: datetime, got: Inbound) -> bool:
    """Write the receipt for one delivery (its own transaction); False when it was there (a replay)."""
    try:
        async with db.write() as conn:
            if (await conn.execute(select(INBOUND.c.id).where(INBOUND.c.key == key))).first() is not None:
                return False
            await conn.execute(insert(INBOUND).values(
                receiver=receiver, key=key, received_at=now, alert_id=None, action=got.action,
                actor=got.actor[:255], outcome="applying"))
    except IntegrityError:  # the same delivery, concurrently: the other request applies it
        return False
    return True


async def settle(db: Database, key: str, alert_id: int | None, outcome: str) -> None:
    async with db.write() as conn:
        await conn.execute(update(INBOUND).where(INBOUND.c.key == key).values(alert_id=alert_id,
                                                                              outcome=outcome[:255]))


async def forget(db: Database, key: str) -> None:
    """The change failed (not a conflict): drop the receipt so the service's retry applies it."""
    async with db.write() as conn:
        await conn.execute(delete(INBOUND).where(INBOUND.c.key == key))


async def find_alert(conn: AsyncConnection, receiver: str, got: Inbound) -> tuple[int | None, str | None]:
    """(alert id, None) when ``got`` names one of our alerts (and, for Slack, our message); else why not."""
    ref = split_ref(got.ref)
    if ref is None:
        return None, f"not an OpsConductor alert ({got.what})"
    prefix, alert_id = ref
    fp = (await conn.execute(select(ALERTS.c.fingerprint).where(ALERTS.c.id == alert_id))).scalar_one_or_none()
    if fp is None or not str(fp).startswith(prefix):
        return None, "unknown alert"
    if got.message_ts is not None:  # Slack: the button must be on the message we posted for this alert
        ext = (await conn.execute(select(STATE.c.ext_ref).where(STATE.c.alert_id == alert_id,
                                                                STATE.c.receiver == receiver))).scalar_one_or_none()
        if not ext or str(ext.get("ts")) != got.message_ts:
            return None, "unknown message"
    return alert_id, None
