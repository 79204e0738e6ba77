"""Two nodes on one PostgreSQL give the same alerts, history and notifications as one node.

Real `opsconductor serve` processes, the shipped rules (pairing, an inhibit rule, a site
correlation that raises a parent), real HTTP. The stream is sent in phases: within a phase the
events of one resource go to one node, in order, and the two nodes take theirs at the same time
(so their processors work on partitions side by side); a phase ends when both answered
(``wait=true``: processed). A single node on a fresh database gets the same phases. Only the
order across resources inside a phase differs, and the rules' outcomes do not depend on it.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import uuid
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.pg import create_database, drop_database
from tests.support.process import ServerProcess

PG = os.environ.get("OPSCONDUCTOR_TEST_POSTGRES_URL")
ROOT = Path(__file__).resolve().parents[2]
KEY = "opsc_" + "5" * 40

pytestmark = [pytest.mark.db, pytest.mark.skipif(not PG, reason="two nodes need PostgreSQL: set "
                                                 "OPSCONDUCTOR_TEST_POSTGRES_URL (.ci/run does)")]

Event = dict[str, Any]


def phases(seed: int = 14) -> list[list[Event]]:
    """Devices in 6 sites go down (3+ in 2 sites: site_isolated), their links and BGP sessions fail
    meanwhile (inhibited), half the devices come back, some links clear, devices go down again,
    repeats deduplicate."""
    rnd = random.Random(seed)
    devices = [(f"sw{i}.s{i % 6}", f"s{i % 6}") for i in range(120)]
    down = rnd.sample(devices, 40)
    isolated = [d for d in devices if d[1] in ("s1", "s4")][:6]  # 3+ per site within the window
    down = list(dict.fromkeys(down + isolated))
    p1 = [{"resource": r, "event": "device_down", "severity": "critical", "labels": {"site": s}} for r, s in down]
    p2: list[Event] = []
    for r, s in devices:
        for port in range(rnd.randint(1, 4)):
            ev = {"resource": r, "event": "link_down", "component": f"ge-0/0/{port}", "severity": "major",
                  "labels": {"site": s}}
            p2 += [ev] * rnd.randint(1, 3)
        if rnd.random() < 0.3:
            p2.append({"resource": r, "event": "bgp_down", "component": "peer-1", "severity": "major",
                       "labels": {"site": s}})
    rnd.shuffle(p2)  # a resource's events keep their order within the node that gets them
    back = rnd.sample(down, len(down) // 2)
    p3 = [{"resource": r, "event": "device_up", "severity": "clear", "labels": {"site": s}} for r, s in back]
    p4 = [{"resource": r, "event": "link_up", "component": "ge-0/0/0", "severity": "clear", "labels": {"site": s}}
          for r, s in rnd.sample(devices, 50)]
    p5 = [{"resource": r, "event": "device_down", "severity": "critical", "labels": {"site": s}}
          for r, s in rnd.sample(down, 10)]
    p6 = [dict(e) for e in rnd.sample(p2, 150)]
    # A phase never holds two events of one resource whose effects on each other depend on the batch
    # they share (a device coming back and its link clearing): batch boundaries differ between runs.
    return [p1, p2, p3, p4, p5, p6]


def node_of(resource: str, nodes: int) -> int:
    return zlib.crc32(resource.encode()) % nodes


async def send(url: str, events: list[Event]) -> None:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as c:
        for i in range(0, len(events), 40):
            r = await c.post("/api/v1/events?wait=true", json=events[i : i + 40])
            assert r.status_code == 200, r.text  # every event processed (202 would mean some pending)


async def run(urls: list[str], stream: list[list[Event]]) -> None:
    for phase in stream:
        shares: list[list[Event]] = [[] for _ in urls]
        for e in phase:
            shares[node_of(e["resource"], len(urls))].append(e)
        await asyncio.gather(*(send(u, s) for u, s in zip(urls, shares, strict=True) if s))


async def processed(url: str) -> float:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as c:
        text_ = (await c.get("/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text_.splitlines()
               if line.startswith("opsconductor_events_processed_total{"))


async def snapshot(db_url: str) -> dict[str, Any]:
    """What the nodes decided, without ids and times: alerts (with their parent), history, outbox."""
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            alerts = (await conn.execute(text(
                "SELECT a.id, a.fingerprint, a.resource, a.event, a.status, a.severity, a.duplicate_count, "
                "a.suppressed_reason, p.fingerprint AS parent, a.source, a.labels "
                "FROM alerts a LEFT JOIN alerts p ON p.id = a.parent_id"))).mappings().all()
            mine = {a["id"]: a for a in alerts
                    if a["source"] != "opsconductor" or "correlated_by" in (a["labels"] or {})}  # no self-alerts
            # How often each alert opened and resolved: the path in between (created active, then
            # suppressed by a parent, or created suppressed) depends on batch boundaries, on one node too.
            history = Counter(
                (mine[h.alert_id]["fingerprint"], h.kind if h.kind == "created" else h.status)
                for h in (await conn.execute(text("SELECT alert_id, kind, status FROM alert_history"))).all()
                if h.alert_id in mine and (h.kind == "created" or h.status in ("resolved", "expired")))
            outbox = Counter(
                (mine[n.alert_id]["fingerprint"], n.receiver, n.transition)
                for n in (await conn.execute(text("SELECT alert_id, receiver, transition FROM notifications"))).all()
                if n.alert_id in mine)
            pending = (await conn.execute(text("SELECT count(*) FROM events WHERE NOT processed"))).scalar_one()
    finally:
        await engine.dispose()
    # A parent's duplicate_count counts its derived updates, one per batch that changed its children:
    # it depends on batch boundaries (on one node too), so it is left out for parents.
    rows = sorted((a["fingerprint"], a["resource"], a["event"], a["status"], a["severity"],
                   -1 if a["source"] == "opsconductor" else a["duplicate_count"],
                   a["suppressed_reason"] or "", a["parent"] or "") for a in mine.values())
    return {"alerts": rows, "history": history, "outbox": outbox, "pending": pending}


@contextmanager
def nodes(tmp: Path, db_url: str, n: int) -> Iterator[list[str]]:
    rules = tmp / "rules"
    if not rules.exists():
        shutil.copytree(ROOT / "rules", rules)
    env = {"OPSCONDUCTOR_DATABASE_URL": db_url, "OPSCONDUCTOR_RULES_DIR": str(rules),
           "OPSCONDUCTOR_ADDONS_DIR": str(ROOT / "addons"), "OPSCONDUCTOR_ADMIN_KEY": KEY,
           "OPSCONDUCTOR_WEBHOOK_URL": "http://127.0.0.1:9/audit", "OPSCONDUCTOR_WEBHOOK_SECRET": "s3cret",
           "OPSCONDUCTOR_POLLER_ENABLED": "false", "OPSCONDUCTOR_TRAP_ENABLED": "false"}
    procs = []
    try:
        for i in range(n):  # the first migrates the fresh database
            p = ServerProcess(tmp / f"{db_url.rsplit('/', 1)[-1]}-node{i}", env=env,
                              args=["serve", "--migrate"] if i == 0 else ["serve"])
            p.start()
            procs.append(p)
        yield [p.url for p in procs]
    finally:
        for p in procs:
            p.stop()


async def test_two_nodes_equal_one(tmp_path: Path) -> None:
    assert PG is not None
    stream = phases()
    results = {}
    for n in (1, 2):
        name = f"opsc_scale_{uuid.uuid4().hex[:8]}"
        await create_database(PG, name)
        url = PG.rsplit("/", 1)[0] + "/" + name
        try:
            with nodes(tmp_path, url, n) as urls:
                await run(urls, stream)
                if n == 2:  # both nodes' processors worked (on partitions side by side)
                    assert all([await processed(u) > 0 for u in urls])
                results[n] = await snapshot(url)
        finally:
            await drop_database(PG, name)
    one, two = results[1], results[2]
    assert one["pending"] == two["pending"] == 0
    assert any(a[2] == "site_isolated" for a in one["alerts"]), "the stream raises correlation parents"
    assert any(a[3] == "suppressed" for a in one["alerts"]), "the stream inhibits"
    assert any(a[5] > 0 for a in one["alerts"]), "the stream deduplicates"
    assert two["alerts"] == one["alerts"]
    assert two["history"] == one["history"]
    # Notifications: every alert still open and active at the end was announced to the same receivers
    # on both. Which alerts were briefly active (and so notified) before a parent suppressed them
    # depends on batch boundaries, on one node too, so those are not compared.
    active = {a[0] for a in one["alerts"] if a[3] == "active"}
    assert {k[:2] for k in two["outbox"] if k[0] in active} == {k[:2] for k in one["outbox"] if k[0] in active}
    assert active and any(k[0] in active for k in one["outbox"]), "the stream notifies"
