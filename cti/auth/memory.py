"""An in-process AuthStore: for a web edge built without a database (tests, break-glass only)."""

from __future__ import annotations

import dataclasses

from cti.auth.principal import Role, Scope
from cti.auth.store import Credentials, Person, SessionRecord, TokenRecord


class MemoryAuthStore:
    """Everything in dicts; lost on restart. `cti serve` always uses the SQL store."""

    def __init__(self, *, max_sessions: int = 10_000) -> None:
        self._people: dict[str, Person] = {}
        self._credentials: dict[str, Credentials] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._tokens: dict[int, TokenRecord] = {}
        self._max_sessions = max_sessions

    async def person(self, login: str) -> Person | None:
        return self._people.get(login)

    async def people(self) -> list[Person]:
        return sorted(self._people.values(), key=lambda p: p.login)

    async def save_person(self, login: str, *, role: Role, name: str | None) -> Person:
        old = self._people.get(login)
        if old is None:
            person = Person(login=login, name=name or login, role=role)
        else:
            person = dataclasses.replace(old, role=role, name=name or old.name)
        self._people[login] = person
        return person

    def put_person(self, person: Person) -> None:
        """Directory data a test needs (extension, device) without the directory code."""
        self._people[person.login] = person

    async def credentials(self, login: str) -> Credentials | None:
        return self._credentials.get(login)

    async def all_credentials(self) -> list[Credentials]:
        return sorted(self._credentials.values(), key=lambda c: c.login)

    async def set_password(self, login: str, password_hash: str, now: float) -> None:
        self._credentials[login] = Credentials(
            login=login, password_hash=password_hash, updated_at=now
        )

    async def set_disabled(self, login: str, now: float) -> bool:
        old = self._credentials.get(login)
        if old is None:
            return False
        self._credentials[login] = dataclasses.replace(old, disabled=True, updated_at=now)
        return True

    async def add_session(self, session: SessionRecord) -> None:
        if len(self._sessions) >= self._max_sessions:
            await self.purge_sessions(session.created_at)
        while len(self._sessions) >= self._max_sessions:
            oldest = min(self._sessions.values(), key=lambda s: s.created_at)
            del self._sessions[oldest.token_hash]
        self._sessions[session.token_hash] = session

    async def session(self, token_hash: str) -> SessionRecord | None:
        return self._sessions.get(token_hash)

    async def touch_session(self, token_hash: str, now: float) -> None:
        old = self._sessions.get(token_hash)
        if old is not None:
            self._sessions[token_hash] = dataclasses.replace(old, last_seen_at=now)

    async def delete_session(self, token_hash: str) -> None:
        self._sessions.pop(token_hash, None)

    async def delete_sessions_of(self, login: str) -> int:
        gone = [h for h, s in self._sessions.items() if s.login == login]
        for h in gone:
            del self._sessions[h]
        return len(gone)

    async def purge_sessions(self, now: float) -> int:
        gone = [h for h, s in self._sessions.items() if s.expires_at <= now]
        for h in gone:
            del self._sessions[h]
        return len(gone)

    def __len__(self) -> int:
        return len(self._sessions)

    async def add_token(
        self, *, login: str, name: str, token_hash: str, scopes: frozenset[Scope], now: float
    ) -> TokenRecord:
        record = TokenRecord(
            id=len(self._tokens) + 1,
            login=login,
            name=name,
            token_hash=token_hash,
            scopes=scopes,
            created_at=now,
        )
        self._tokens[record.id] = record
        return record

    async def token(self, token_hash: str) -> TokenRecord | None:
        return next((t for t in self._tokens.values() if t.token_hash == token_hash), None)

    async def tokens(self, login: str | None = None) -> list[TokenRecord]:
        return [t for t in self._tokens.values() if login is None or t.login == login]

    async def touch_token(self, token_id: int, now: float) -> None:
        old = self._tokens.get(token_id)
        if old is not None:
            self._tokens[token_id] = dataclasses.replace(old, last_used_at=now)

    async def revoke_token(self, token_id: int, now: float) -> bool:
        old = self._tokens.get(token_id)
        if old is None or old.revoked_at is not None:
            return False
        self._tokens[token_id] = dataclasses.replace(old, revoked_at=now)
        return True


__all__ = ["MemoryAuthStore"]
