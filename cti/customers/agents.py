"""The directory's agents for the API and the CLI: read, written and audited; each write in one
transaction that ends by telling the live lookup."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.customers import fields as f
from cti.customers import inputs
from cti.customers.audit import Entity
from cti.customers.directory import CallerDirectory
from cti.customers.errors import Conflict, InvalidFields, NotFound
from cti.customers.model import Agent
from cti.db import agents as agent_store
from cti.db import customers as customer_store
from cti.db.audit import history, record_changes
from cti.db.session import writing


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AgentService:
    """Agents: CRUD and history; a handover of customers is a change of their manager_login."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        region: str,
        directory: CallerDirectory | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._sessions = sessions
        self._region = region
        self._directory = directory
        self._clock = clock

    async def listing(self) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            return [a.to_json() for a in await agent_store.all_agents(session)]

    async def get(self, login: str) -> dict[str, Any]:
        async with self._sessions() as session:
            return (await _agent(session, login)).to_json()

    async def save(
        self, login: str | None, body: Mapping[str, Any], *, actor: str, partial: bool = False
    ) -> tuple[dict[str, Any], bool]:
        """Create (login None) or update an agent; returns it and whether it was created."""
        async with writing(self._sessions) as session:
            old = await _agent(session, login) if login is not None else None
            if old is not None and "login" in body and body["login"] != old.login:
                raise InvalidFields(
                    [
                        f.FieldError(
                            "login", "cannot change; create a new agent and hand the customers over"
                        )
                    ]
                )
            current = old.audited() if old is not None and partial else None
            if old is not None and not partial:
                body = {**body, "login": old.login}
            values = inputs.agent(body, f.Rules(region=self._region), current=current)
            if old is None and (await agent_store.by_logins(session, [values["login"]])):
                raise Conflict(f"an agent with login {values['login']!r} exists", field="login")
            new = Agent(id=old.id if old else None, **values)
            (written,) = await agent_store.write(
                session, [(old, new)], actor=actor, at=self._clock()
            )
            assert written.id is not None
            await record_changes(session, Entity.AGENT, [written.id])
        await self._tell_directory()
        return written.to_json(), old is None

    async def delete(self, login: str, *, actor: str) -> None:
        async with writing(self._sessions) as session:
            agent = await _agent(session, login)
            managed = await customer_store.count_managed_by(session, login)
            if managed:
                raise Conflict(
                    f"{login} is the responsible manager of {managed} customer(s); hand them over first",
                    field="login",
                )
            await agent_store.remove(session, agent, actor=actor, at=self._clock())
            assert agent.id is not None
            await record_changes(session, Entity.AGENT, [agent.id])
        await self._tell_directory()

    async def history(self, login: str, *, limit: int = 100) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            agent = await _agent(session, login)
            assert agent.id is not None
            return [
                e.to_json() for e in await history(session, Entity.AGENT, agent.id, limit=limit)
            ]

    async def _tell_directory(self) -> None:
        if self._directory is not None:
            await self._directory.refresh()


async def _agent(session: AsyncSession, login: str | None) -> Agent:
    found = await agent_store.by_logins(session, [login]) if login else {}
    if login is None or login not in found:
        raise NotFound(f"no agent with login {login!r}")
    return found[login]


__all__ = ["AgentService"]
