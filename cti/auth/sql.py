"""AuthStore on SQLAlchemy (SQLite or PostgreSQL): credentials, sessions, api_tokens, and the
agents directory for people's role and phones."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.auth.principal import Role, Scope
from cti.auth.store import Credentials, Person, SessionRecord, TokenRecord
from cti.auth.tokens import format_scopes, parse_scopes
from cti.db.auth_models import AccessChange, ApiToken, Credential, SessionRow
from cti.db.models import Agent
from cti.db.session import writing


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _role(value: str | None) -> Role:
    try:
        return Role(value or "agent")
    except ValueError:
        return Role.AGENT  # an unknown role in the directory grants the least


def _person(agent: Agent) -> Person:
    return Person(
        login=agent.login,
        name=agent.name,
        role=_role(agent.role),
        extension=agent.extension or "",
        device=agent.device or "",
    )


def _token(row: ApiToken) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        login=row.login,
        name=row.name,
        token_hash=row.token_hash,
        scopes=parse_scopes([row.scopes]),
        created_at=row.created_at.timestamp(),
        last_used_at=_ts(row.last_used_at),
        revoked_at=_ts(row.revoked_at),
    )


class SqlAuthStore:
    """One short transaction per call; safe for several processes sharing the database."""

    def __init__(self, *, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory

    # --- people (the agents directory) ---------------------------------------------------------

    async def person(self, login: str) -> Person | None:
        async with self._sessions() as db:
            agent = await db.scalar(select(Agent).where(Agent.login == login))
        return None if agent is None else _person(agent)

    async def people(self) -> list[Person]:
        async with self._sessions() as db:
            agents = (await db.scalars(select(Agent).order_by(Agent.login))).all()
        return [_person(a) for a in agents]

    async def save_person(self, login: str, *, role: Role, name: str | None) -> Person:
        """Through the directory's own writes: the change is audited and announced."""
        from cti.customers.audit import Entity
        from cti.customers.model import Agent as DirectoryAgent
        from cti.db import agents as directory
        from cti.db.audit import record_changes

        async with writing(self._sessions) as db:
            old = (await directory.by_logins(db, [login])).get(login)
            new = (
                DirectoryAgent(id=None, login=login, name=name or login, role=role)
                if old is None
                else dataclasses.replace(old, role=role, name=name or old.name)
            )
            (saved,) = await directory.write(
                db, [(old, new)], actor="cti user add", at=datetime.now(UTC)
            )
            if saved.id is not None and (old is None or old.audited() != saved.audited()):
                await record_changes(db, Entity.AGENT, [saved.id])
        return Person(
            login=saved.login,
            name=saved.name,
            role=Role(saved.role.value),
            extension=saved.extension,
            device=saved.device,
        )

    # --- credentials ---------------------------------------------------------------------------

    async def credentials(self, login: str) -> Credentials | None:
        async with self._sessions() as db:
            row = await db.get(Credential, login)
        return None if row is None else self._credentials(row)

    async def all_credentials(self) -> list[Credentials]:
        async with self._sessions() as db:
            rows = (await db.scalars(select(Credential).order_by(Credential.login))).all()
        return [self._credentials(r) for r in rows]

    @staticmethod
    def _credentials(row: Credential) -> Credentials:
        return Credentials(
            login=row.login,
            password_hash=row.password_hash,
            updated_at=row.updated_at.timestamp(),
            disabled=row.disabled_at is not None,
        )

    async def set_password(self, login: str, password_hash: str, now: float) -> None:
        async with writing(self._sessions) as db:
            row = await db.get(Credential, login)
            if row is None:
                db.add(Credential(login=login, password_hash=password_hash, updated_at=_dt(now)))
            else:
                row.password_hash, row.updated_at, row.disabled_at = password_hash, _dt(now), None

    async def set_disabled(self, login: str, now: float) -> bool:
        async with writing(self._sessions) as db:
            row = await db.get(Credential, login)
            if row is None:
                return False
            row.disabled_at = row.disabled_at or _dt(now)
            row.updated_at = _dt(now)
            return True

    # --- sessions ------------------------------------------------------------------------------

    async def add_session(self, session: SessionRecord) -> None:
        async with writing(self._sessions) as db:
            db.add(
                SessionRow(
                    token_hash=session.token_hash,
                    login=session.login,
                    created_at=_dt(session.created_at),
                    expires_at=_dt(session.expires_at),
                    last_seen_at=_dt(session.last_seen_at),
                )
            )

    async def session(self, token_hash: str) -> SessionRecord | None:
        async with self._sessions() as db:
            row = await db.get(SessionRow, token_hash)
        if row is None:
            return None
        return SessionRecord(
            token_hash=row.token_hash,
            login=row.login,
            created_at=row.created_at.timestamp(),
            expires_at=row.expires_at.timestamp(),
            last_seen_at=row.last_seen_at.timestamp(),
        )

    async def touch_session(self, token_hash: str, now: float) -> None:
        async with writing(self._sessions) as db:
            await db.execute(
                update(SessionRow)
                .where(SessionRow.token_hash == token_hash)
                .values(last_seen_at=_dt(now))
            )

    async def delete_session(self, token_hash: str) -> None:
        async with writing(self._sessions) as db:
            await db.execute(delete(SessionRow).where(SessionRow.token_hash == token_hash))

    async def delete_sessions_of(self, login: str) -> int:
        async with writing(self._sessions) as db:
            result = await db.execute(delete(SessionRow).where(SessionRow.login == login))
        return int(getattr(result, "rowcount", 0) or 0)

    async def purge_sessions(self, now: float) -> int:
        async with writing(self._sessions) as db:
            result = await db.execute(delete(SessionRow).where(SessionRow.expires_at <= _dt(now)))
        return int(getattr(result, "rowcount", 0) or 0)

    # --- API tokens ----------------------------------------------------------------------------

    async def add_token(
        self, *, login: str, name: str, token_hash: str, scopes: frozenset[Scope], now: float
    ) -> TokenRecord:
        async with writing(self._sessions) as db:
            row = ApiToken(
                login=login,
                name=name,
                token_hash=token_hash,
                scopes=format_scopes(scopes),
                created_at=_dt(now),
            )
            db.add(row)
            await db.flush()
            return _token(row)

    async def token(self, token_hash: str) -> TokenRecord | None:
        async with self._sessions() as db:
            row = await db.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))
        return None if row is None else _token(row)

    async def tokens(self, login: str | None = None) -> list[TokenRecord]:
        query = select(ApiToken).order_by(ApiToken.id)
        if login is not None:
            query = query.where(ApiToken.login == login)
        async with self._sessions() as db:
            rows = (await db.scalars(query)).all()
        return [_token(r) for r in rows]

    async def touch_token(self, token_id: int, now: float) -> None:
        async with writing(self._sessions) as db:
            await db.execute(
                update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=_dt(now))
            )

    async def revoke_token(self, token_id: int, now: float) -> bool:
        async with writing(self._sessions) as db:
            result = await db.execute(
                update(ApiToken)
                .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
                .values(revoked_at=_dt(now))
            )
        return bool(getattr(result, "rowcount", 0))


class SqlAccessLog:
    """The access_changes table (`cti.auth.access.AccessLog`): every read is by primary key."""

    def __init__(self, *, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory

    async def append(self, login: str, now: float) -> int:
        async with writing(self._sessions) as db:
            row = AccessChange(login=login, changed_at=_dt(now))
            db.add(row)
            await db.flush()
            return row.id

    async def after(self, position: int, *, limit: int = 1000) -> list[tuple[int, str]]:
        query = (
            select(AccessChange.id, AccessChange.login)
            .where(AccessChange.id > position)
            .order_by(AccessChange.id)
            .limit(limit)
        )
        async with self._sessions() as db:
            return [(int(i), str(login)) for i, login in (await db.execute(query)).all()]

    async def last(self) -> int:
        async with self._sessions() as db:
            return int(await db.scalar(select(func.max(AccessChange.id))) or 0)

    async def prune(self, before: float) -> int:
        async with writing(self._sessions) as db:
            result = await db.execute(
                delete(AccessChange).where(AccessChange.changed_at < _dt(before))
            )
        return int(getattr(result, "rowcount", 0) or 0)


__all__ = ["SqlAccessLog", "SqlAuthStore"]
