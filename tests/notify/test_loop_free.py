"""Two-way sync is loop-free per alert: inside ``from_receiver`` the outbox skips the originating
receiver only for the alerts that receiver changed; other alerts changed in the same action (say,
suppression re-decisions) are routed to every receiver, and outside it nothing is skipped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from opsconductor.model.alert import TransitionKind
from opsconductor.model.lifecycle import Transition
from opsconductor.notify.config import parse_config
from opsconductor.notify.outbox import NotifySink, from_receiver
from opsconductor.notify.tables import NOTIFICATIONS, STATE
from opsconductor.store.db import Database

pytestmark = pytest.mark.db

CFG = """
receivers:
  pd: {kind: webhook, url: "http://127.0.0.1:9/pd"}
  chat: {kind: webhook, url: "http://127.0.0.1:9/chat"}
route:
  receiver: chat
"""
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _resolved(alert_id: int) -> Transition:
    alert = {"id": alert_id, "fingerprint": f"fp{alert_id}", "resource": f"r{alert_id}", "event": "link_down",
             "component": None, "severity": "major", "status": "closed", "labels": {}}
    return Transition(TransitionKind.resolved, alert, previous_status="open", actor="jane (PagerDuty)")


async def _told(db_url: str, origin: tuple[str, list[int]] | None) -> list[tuple[int, str]]:
    db = Database(db_url)
    cfg = parse_config(CFG)
    sink = NotifySink(lambda: cfg, lambda name: True, lambda: NOW, lambda: None)
    try:
        async with db.write() as conn:
            await conn.execute(insert(STATE), [
                {"alert_id": a, "receiver": r, "route_id": "gone", "announced": True, "seq": 1, "ext_ref": {},
                 "repeat_at": None, "updated_at": NOW} for a in (1, 2) for r in ("pd", "chat")])
            if origin is None:
                await sink.on_transitions(conn, [_resolved(1), _resolved(2)])
            else:
                with from_receiver(origin[0], origin[1]):
                    await sink.on_transitions(conn, [_resolved(1), _resolved(2)])
            got = (await conn.execute(select(NOTIFICATIONS.c.alert_id, NOTIFICATIONS.c.receiver))).all()
    finally:
        await db.dispose()
    return sorted((int(a), str(r)) for a, r in got)


async def test_only_the_changed_alert_skips_the_receiver_it_came_from(db_url: str) -> None:
    assert await _told(db_url, ("pd", [1])) == [(1, "chat"), (2, "chat"), (2, "pd")]


async def test_without_an_origin_every_announcing_receiver_hears(db_url: str) -> None:
    assert await _told(db_url, None) == [(1, "chat"), (1, "pd"), (2, "chat"), (2, "pd")]
