"""Agents in the database: read them, write changes with their audit entries.

Like `cti.db.customers`, writes run in the caller's transaction, which ends with
`cti.db.audit.record_changes`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cti.customers.audit import AuditEntry, Entity, audit_entry
from cti.customers.model import Agent, Role
from cti.db.audit import write_audit
from cti.db.models import Agent as AgentRow

_AGENTS = cast(Table, AgentRow.__table__)


def _agent(row: Any) -> Agent:
    return Agent(
        id=row.id,
        login=row.login,
        name=row.name,
        role=Role(row.role) if row.role in Role._value2member_map_ else Role.AGENT,
        extension=row.extension,
        device=row.device,
        mobile=row.mobile,
        teams=tuple(row.teams or ()),
        seniority=row.seniority or 0,
        max_calls=row.max_calls or 1,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def all_agents(session: AsyncSession) -> list[Agent]:
    rows = await session.execute(select(_AGENTS).order_by(_AGENTS.c.login))
    return [_agent(r) for r in rows]


async def by_logins(session: AsyncSession, logins: Sequence[str]) -> dict[str, Agent]:
    if not logins:
        return {}
    rows = await session.execute(select(_AGENTS).where(_AGENTS.c.login.in_(list(logins))))
    return {r.login: _agent(r) for r in rows}


async def logins(session: AsyncSession) -> set[str]:
    return set((await session.scalars(select(_AGENTS.c.login))).all())


def _columns(a: Agent, at: datetime) -> dict[str, Any]:
    return {
        "login": a.login,
        "name": a.name,
        "role": a.role.value,
        "extension": a.extension,
        "device": a.device,
        "mobile": a.mobile,
        "teams": list(a.teams),
        "seniority": a.seniority,
        "max_calls": a.max_calls,
        "updated_at": at,
    }


async def write(
    session: AsyncSession,
    pairs: Sequence[tuple[Agent | None, Agent]],
    *,
    actor: str,
    at: datetime,
) -> list[Agent]:
    """Create or update each agent (old None: new); audit what changed; same order back."""
    out: list[Agent] = []
    entries: list[AuditEntry] = []
    creates = [(old, new) for old, new in pairs if old is None]
    ids: list[int] = []
    if creates:
        # one executemany, ids read back by login (SQLite would RETURN row by row)
        await session.execute(
            insert(_AGENTS), [{**_columns(new, at), "created_at": at} for _, new in creates]
        )
        rows = await session.execute(
            select(_AGENTS.c.login, _AGENTS.c.id).where(
                _AGENTS.c.login.in_([new.login for _, new in creates])
            )
        )
        by_login = {r.login: r.id for r in rows}
        ids = [by_login[new.login] for _, new in creates]
    changed = [
        (old, new) for old, new in pairs if old is not None and old.audited() != new.audited()
    ]
    if changed:
        await session.execute(
            update(_AGENTS).where(_AGENTS.c.id == bindparam("b_id")),
            [{**_columns(new, at), "b_id": old.id} for old, new in changed if old is not None],
        )
    created = iter(ids)
    for old, new in pairs:
        if old is None:
            agent = dataclasses.replace(new, id=next(created), created_at=at, updated_at=at)
        elif old.audited() != new.audited():
            agent = dataclasses.replace(new, id=old.id, created_at=old.created_at, updated_at=at)
        else:
            out.append(old)
            continue
        assert agent.id is not None
        entry = audit_entry(
            entity=Entity.AGENT,
            entity_id=agent.id,
            entity_key=agent.login,
            old=old.audited() if old else None,
            new=agent.audited(),
            actor=actor,
            at=at,
        )
        if entry is not None:
            entries.append(entry)
        out.append(agent)
    await write_audit(session, entries)
    return out


async def remove(session: AsyncSession, agent: Agent, *, actor: str, at: datetime) -> None:
    assert agent.id is not None
    await session.execute(delete(_AGENTS).where(_AGENTS.c.id == agent.id))
    entry = audit_entry(
        entity=Entity.AGENT,
        entity_id=agent.id,
        entity_key=agent.login,
        old=agent.audited(),
        new=None,
        actor=actor,
        at=at,
    )
    assert entry is not None
    await write_audit(session, [entry])


__all__ = ["all_agents", "by_logins", "logins", "remove", "write"]
