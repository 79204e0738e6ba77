"""Targets and addon states in the database (API- and NetBox-managed targets)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.errors import Conflict, NotFound
from opsconductor.sources.kinds import Target
from opsconductor.sources.tables import AddonStateRow, TargetRow

T = TargetRow.__table__  # type: ignore[attr-defined]
A = AddonStateRow.__table__  # type: ignore[attr-defined]
FIELDS = ("name", "address", "port", "ports", "labels", "addons", "intervals", "credential", "credentials",
          "enabled", "depends_on")


def _target(row: Any) -> Target:
    return Target(name=row.name, address=row.address, port=row.port, labels=dict(row.labels or {}),
                  addons=tuple(row.addons or ()), intervals=dict(row.intervals or {}),
                  credential=row.credential, enabled=bool(row.enabled),
                  credentials=dict(row.credentials or {}), origin=row.origin, ports=dict(row.ports or {}),
                  depends_on=tuple(row.depends_on or ()))


async def list_targets(conn: AsyncConnection) -> list[Target]:
    rows = (await conn.execute(select(T).order_by(T.c.name))).all()
    return [_target(r) for r in rows]


async def get_target(conn: AsyncConnection, name: str) -> Target:
    row = (await conn.execute(select(T).where(T.c.name == name))).first()
    if row is None:
        raise NotFound(f"no target named {name!r}")
    return _target(row)


async def create_target(conn: AsyncConnection, data: Mapping[str, Any], origin: str, now: datetime) -> Target:
    values = {k: data.get(k) for k in FIELDS}
    values.update(labels=values["labels"] or {}, addons=list(values["addons"] or []),
                  intervals=values["intervals"] or {}, credentials=values["credentials"] or {},
                  ports=values["ports"] or {}, depends_on=list(values["depends_on"] or []),
                  enabled=True if values["enabled"] is None else values["enabled"])
    try:
        async with conn.begin_nested():
            await conn.execute(T.insert().values(**values, origin=origin, updated_at=now))
    except IntegrityError:
        raise Conflict(f"a target named {data['name']!r} already exists") from None
    return await get_target(conn, str(data["name"]))


async def replace_target(conn: AsyncConnection, name: str, data: Mapping[str, Any], now: datetime) -> Target:
    await get_target(conn, name)
    values = {k: data.get(k) for k in FIELDS if k != "name"}
    values.update(labels=values["labels"] or {}, addons=list(values["addons"] or []),
                  intervals=values["intervals"] or {}, credentials=values["credentials"] or {},
                  ports=values["ports"] or {}, depends_on=list(values["depends_on"] or []),
                  enabled=True if values["enabled"] is None else values["enabled"])
    await conn.execute(update(T).where(T.c.name == name).values(**values, updated_at=now))
    return await get_target(conn, name)


async def delete_target(conn: AsyncConnection, name: str) -> None:
    res = await conn.execute(delete(T).where(T.c.name == name))
    if not res.rowcount:
        raise NotFound(f"no target named {name!r}")


async def sync_targets(conn: AsyncConnection, origin: str, targets: Sequence[Mapping[str, Any]],
                       now: datetime) -> tuple[int, int, int]:
    """Make the targets of ``origin`` (e.g. netbox) exactly ``targets``; (created, updated, deleted).

    Targets of another origin with the same name are left alone (the API/inventory wins).
    """
    existing = {r.name: r for r in (await conn.execute(select(T))).all()}
    created = updated = 0
    want = {str(t["name"]): t for t in targets}
    for name, t in want.items():
        row = existing.get(name)
        values = {"address": t["address"], "port": t.get("port"), "labels": dict(t.get("labels") or {}),
                  "addons": list(t.get("addons") or []), "intervals": dict(t.get("intervals") or {}),
                  "credential": t.get("credential"), "credentials": dict(t.get("credentials") or {}),
                  "ports": dict(t.get("ports") or {}),
                  "enabled": bool(t.get("enabled", True))}
        if "depends_on" in t:  # else links (NetBox cables) keep what they set
            values["depends_on"] = list(t.get("depends_on") or [])
        if row is None:
            await conn.execute(T.insert().values(name=name, origin=origin, updated_at=now, **values))
            created += 1
        elif row.origin == origin and any(getattr(row, k) != v for k, v in values.items()):
            await conn.execute(update(T).where(T.c.name == name).values(**values, updated_at=now))
            updated += 1
    gone = [n for n, r in existing.items() if r.origin == origin and n not in want]
    if gone:
        await conn.execute(delete(T).where(T.c.name.in_(gone)))
    return created, updated, len(gone)


def depends_from_links(roles: dict[str, str], links: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Per target, its upstreams from undirected links (cables): of two linked targets, the one whose
    role comes first in ``upstream_roles`` is upstream; same or unknown roles give no direction (pure)."""
    deps: dict[str, set[str]] = {}
    for link in links:
        order = [str(r) for r in link.get("upstream_roles") or ()]
        a, b = str(link["a"]), str(link["b"])
        ra, rb = roles.get(a), roles.get(b)
        if ra not in order or rb not in order or ra == rb:
            continue
        up, down = (a, b) if order.index(ra) < order.index(rb) else (b, a)
        deps.setdefault(down, set()).add(up)
    return {k: sorted(v) for k, v in deps.items()}


async def sync_links(conn: AsyncConnection, origin: str, links: Sequence[Mapping[str, Any]], now: datetime) -> int:
    """Set depends_on of ``origin``'s targets from links; returns how many targets changed."""
    rows = (await conn.execute(select(T.c.name, T.c.labels, T.c.depends_on, T.c.origin))).all()
    roles = {r.name: str((r.labels or {}).get("role", "")) for r in rows}
    deps = depends_from_links(roles, links)
    changed = 0
    for r in rows:
        want = deps.get(r.name, [])
        if r.origin == origin and list(r.depends_on or []) != want:
            await conn.execute(update(T).where(T.c.name == r.name).values(depends_on=want, updated_at=now))
            changed += 1
    return changed


async def addon_states(conn: AsyncConnection) -> dict[str, bool]:
    return {r.name: bool(r.enabled) for r in (await conn.execute(select(A))).all()}


async def set_addon_state(conn: AsyncConnection, name: str, enabled: bool, now: datetime) -> None:
    res = await conn.execute(update(A).where(A.c.name == name).values(enabled=enabled, updated_at=now))
    if not res.rowcount:
        await conn.execute(A.insert().values(name=name, enabled=enabled, updated_at=now))
