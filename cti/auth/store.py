"""What authentication keeps, and the interface of the stores that keep it (SQL, or memory)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cti.auth.principal import Role, Scope


@dataclass(frozen=True, kw_only=True)
class Person:
    """An agent of the directory, as authentication sees them: role and phones."""

    login: str
    name: str
    role: Role
    extension: str = ""
    device: str = ""  #: e.g. PJSIP/101 or PJSIP/ivanov

    @property
    def extensions(self) -> frozenset[str]:
        """How the person's phone appears in call records: extension and device endpoint."""
        endpoint = self.device.rpartition("/")[2] if self.device else ""
        return frozenset(x for x in (self.extension, endpoint) if x)


@dataclass(frozen=True, kw_only=True)
class Credentials:
    login: str
    password_hash: str
    updated_at: float
    disabled: bool = False


@dataclass(frozen=True, kw_only=True)
class SessionRecord:
    token_hash: str
    login: str
    created_at: float
    expires_at: float
    last_seen_at: float


@dataclass(frozen=True, kw_only=True)
class TokenRecord:
    id: int
    login: str
    name: str
    token_hash: str
    scopes: frozenset[Scope]
    created_at: float
    last_used_at: float | None = None
    revoked_at: float | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "login": self.login,
            "name": self.name,
            "scopes": sorted(s.value for s in self.scopes),
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "revoked_at": self.revoked_at,
        }


class AuthStore(Protocol):
    """Persistence of people's credentials, sessions and API tokens (times are epoch seconds)."""

    async def person(self, login: str) -> Person | None: ...

    async def people(self) -> list[Person]: ...

    async def save_person(self, login: str, *, role: Role, name: str | None) -> Person:
        """Create the agent with this login, or change their role (and name, when given)."""
        ...

    async def credentials(self, login: str) -> Credentials | None: ...

    async def all_credentials(self) -> list[Credentials]: ...

    async def set_password(self, login: str, password_hash: str, now: float) -> None:
        """Store a new hash; re-enables a disabled login."""
        ...

    async def set_disabled(self, login: str, now: float) -> bool:
        """False when the login has no credentials."""
        ...

    async def add_session(self, session: SessionRecord) -> None: ...

    async def session(self, token_hash: str) -> SessionRecord | None: ...

    async def touch_session(self, token_hash: str, now: float) -> None: ...

    async def delete_session(self, token_hash: str) -> None: ...

    async def delete_sessions_of(self, login: str) -> int: ...

    async def purge_sessions(self, now: float) -> int:
        """Delete expired sessions; returns how many."""
        ...

    async def add_token(
        self, *, login: str, name: str, token_hash: str, scopes: frozenset[Scope], now: float
    ) -> TokenRecord: ...

    async def token(self, token_hash: str) -> TokenRecord | None: ...

    async def tokens(self, login: str | None = None) -> list[TokenRecord]: ...

    async def touch_token(self, token_id: int, now: float) -> None: ...

    async def revoke_token(self, token_id: int, now: float) -> bool:
        """False when there is no such token or it was already revoked."""
        ...


__all__ = ["AuthStore", "Credentials", "Person", "SessionRecord", "TokenRecord"]
