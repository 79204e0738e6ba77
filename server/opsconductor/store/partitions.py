"""Processing partitions: several processors (processes, nodes) on one PostgreSQL database.

Every event is given a partition when it is accepted: a hash of its resource modulo
:data:`PARTITIONS`. A processor takes a batch of one or more partitions in a transaction that
holds the processing lock SHARED and an advisory lock per partition, so processors with
different partitions work at the same time. Everything that reads or writes state another
partition depends on (correlation groups and parents, an inhibitor whose ``equal`` lacks the
resource, a topology upstream going down or up, a dedup key without the resource, heartbeats,
operator actions, expiry, re-evaluation passes) runs under the processing lock EXCLUSIVE, as
every batch did before.

A partition batch does not know in advance whether it stays inside its partitions: the stages
check as they go (:meth:`Scope.require_global`, :meth:`Scope.require_local`) and raise
:class:`CrossPartition`; the pipeline rolls the transaction back (nothing of it stays) and runs
the same events again under the exclusive lock. So a partition transaction only ever writes
alerts of its own partitions, and state it reads from other partitions (an inhibitor, an
upstream's down alert, a correlation group) changes only under the exclusive lock, which
waits for every partition transaction: what it read cannot change under it.

SQLite has one writer: every transaction there is exclusive and none of this applies.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from opsconductor.errors import OpsConductorError

PARTITIONS = 16
"""Partitions of the event log; a hash of the resource modulo this."""

PARTITION_LOCK_CLASS = 0x0C0D
"""First key of the two-key advisory lock (class, partition) a partition transaction holds."""

_SCOPE = "opsconductor.partition_scope"


def partition_of(resource: str | None) -> int:
    """The partition of a resource (stable across processes, versions and nodes)."""
    return zlib.crc32((resource or "").encode()) % PARTITIONS


class CrossPartition(OpsConductorError):
    """A partition batch would touch state other partitions depend on: run it exclusively."""


@dataclass
class Scope:
    """What a partition transaction may change: the alerts of its partitions."""

    parts: frozenset[int]
    touched: set[int] = field(default_factory=set)
    """Alerts this transaction wrote (the suppression stage looks only at their history)."""

    def require_global(self, why: str) -> None:
        raise CrossPartition(why)

    def require_local(self, resources: Iterable[str | None], why: str) -> None:
        for r in resources:
            if partition_of(r) not in self.parts:
                raise CrossPartition(f"{why}: {r!r} is in another partition")


def enter(conn: AsyncConnection, scope: Scope) -> None:
    conn.info[_SCOPE] = scope


def leave(conn: AsyncConnection) -> None:
    conn.info.pop(_SCOPE, None)


def scope_of(conn: AsyncConnection | None) -> Scope | None:
    """The partition scope of ``conn``'s transaction; None when it holds the exclusive lock
    (or on SQLite): then everything may be changed."""
    if conn is None:
        return None
    scope = conn.info.get(_SCOPE)
    return scope if isinstance(scope, Scope) else None


def require_global(conn: AsyncConnection | None, why: str) -> None:
    """Stop a partition transaction that is about to touch shared state (no-op when exclusive)."""
    if (scope := scope_of(conn)) is not None:
        scope.require_global(why)


def require_local(conn: AsyncConnection | None, resources: Iterable[str | None], why: str) -> None:
    if (scope := scope_of(conn)) is not None:
        scope.require_local(resources, why)
