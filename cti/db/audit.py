"""The audit log and the directory's change feed in the database.

Change feed: every transaction that changes customers or agents ends with `record_changes`,
which bumps the single `directory_state.revision` and lists what it touched under the new
revision. The bump is the transaction's last write, so writers take the row lock only for the
instant before COMMIT, and revisions become visible in the order they were numbered: a
reader that sees revision R has every change up to R. Caches follow the feed
(`cti.customers.directory`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from cti.customers.audit import Action, AuditEntry, Entity
from cti.db.directory_models import AuditRow, DirectoryChangeRow, DirectoryStateRow
from cti.db.fastcopy import insert_rows

#: above this many ids a revision is recorded as "possibly everything" (readers reload)
BULK_CHANGE = 1_000
#: revisions of the feed kept; a reader further behind reloads everything
KEEP_REVISIONS = 10_000

_AUDIT = cast(Table, AuditRow.__table__)
_CHANGES = cast(Table, DirectoryChangeRow.__table__)
_STATE = cast(Table, DirectoryStateRow.__table__)


AUDIT_COLUMNS = ("entity", "entity_id", "entity_key", "action", "actor", "at", "changes")


async def write_audit(session: AsyncSession, entries: Iterable[AuditEntry]) -> int:
    rows = [
        (
            e.entity.value,
            e.entity_id,
            e.entity_key,
            e.action.value,
            e.actor,
            e.at,
            e.stored_changes(),
        )
        for e in entries
    ]
    await insert_rows(session, _AUDIT, AUDIT_COLUMNS, rows)
    return len(rows)


async def history(
    session: AsyncSession, entity: Entity, entity_id: int, *, limit: int = 100
) -> list[AuditEntry]:
    """The entity's changes, newest first."""
    query = (
        select(AuditRow)
        .where(AuditRow.entity == entity.value, AuditRow.entity_id == entity_id)
        .order_by(AuditRow.id.desc())
        .limit(limit)
    )
    return [
        AuditEntry(
            entity=Entity(row.entity),
            entity_id=row.entity_id,
            entity_key=row.entity_key,
            action=Action(row.action),
            actor=row.actor,
            at=row.at,
            changes={f: (pair[0], pair[1]) for f, pair in (row.changes or {}).items()},
            id=row.id,
        )
        for row in (await session.scalars(query)).all()
    ]


async def record_changes(
    session: AsyncSession, entity: Entity, ids: Iterable[int] | None
) -> int | None:
    """End a writing transaction: bump the revision, list `ids` (None: possibly all) under it.
    Returns the new revision (None when there was nothing to record)."""
    unique = None if ids is None else sorted(set(ids))
    if unique is not None and not unique:
        return None
    bumped = await session.execute(
        update(_STATE)
        .where(_STATE.c.id == 1)
        .values(revision=_STATE.c.revision + 1)
        .returning(_STATE.c.revision)
    )
    revision = int(bumped.scalar_one())
    if unique is None or len(unique) > BULK_CHANGE:
        rows: list[dict[str, Any]] = [
            {"revision": revision, "entity": entity.value, "entity_id": None}
        ]
    else:
        rows = [{"revision": revision, "entity": entity.value, "entity_id": i} for i in unique]
    await session.execute(insert(_CHANGES), rows)
    if revision % 100 == 0:  # now and then, forget what every reader has long seen
        await session.execute(
            delete(_CHANGES).where(_CHANGES.c.revision <= revision - KEEP_REVISIONS)
        )
    return revision


@dataclass(frozen=True)
class Changes:
    """What changed after a revision: ids per entity, or `everything` when a reload is due."""

    revision: int
    customers: frozenset[int] = frozenset()
    agents: bool = False
    everything: bool = False


async def current_revision(conn: AsyncConnection | AsyncSession) -> int:
    value = (await conn.execute(select(_STATE.c.revision).where(_STATE.c.id == 1))).scalar()
    return int(value or 0)


async def changes_since(conn: AsyncConnection | AsyncSession, revision: int) -> Changes:
    """The changes after `revision`; `everything` if the feed no longer reaches back that far
    or a bulk change is among them."""
    rows: Sequence[Any] = (
        await conn.execute(
            select(_CHANGES.c.revision, _CHANGES.c.entity, _CHANGES.c.entity_id)
            .where(_CHANGES.c.revision > revision)
            .order_by(_CHANGES.c.revision)
        )
    ).all()
    if not rows:
        return Changes(revision)
    latest = max(r.revision for r in rows)
    if rows[0].revision != revision + 1:  # the feed was pruned past us
        return Changes(latest, everything=True)
    customers: set[int] = set()
    agents = False
    for row in rows:
        if row.entity == Entity.AGENT.value:
            agents = True
        elif row.entity_id is None:
            return Changes(latest, everything=True)
        else:
            customers.add(row.entity_id)
    return Changes(latest, frozenset(customers), agents)


__all__ = [
    "AUDIT_COLUMNS",
    "BULK_CHANGE",
    "Changes",
    "changes_since",
    "current_revision",
    "history",
    "record_changes",
    "write_audit",
]
