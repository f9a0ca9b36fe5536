"""Who is asking: a signed-in person or a token holder, with a role, scopes and extensions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What a person is in the contact centre; stored on the agent's row in the directory."""

    AGENT = "agent"  #: sees their own calls, pops, callbacks and figures
    SUPERVISOR = "supervisor"  #: sees everything; changes no configuration
    ADMIN = "admin"  #: sees everything and changes configuration


class Scope(StrEnum):
    """What a credential may be used for; a token is limited to the scopes it was created with."""

    READ = "read"  #: read what the role may see: calls, the live feed, customers, reports
    WRITE = "write"  #: change data the role may change: customers, callbacks, click-to-call
    ADMIN = "admin"  #: change configuration (agents, routing, schedules); effective for admins only


class Via(StrEnum):
    """How the request proved who it is."""

    SESSION = "session"  #: the console's session cookie (after login + password)
    TOKEN = "token"  #: `Authorization: Bearer` with a token from `cti token create`
    BREAK_GLASS = "break-glass"  #: a token from the api_tokens setting: an administrator


ALL_SCOPES: frozenset[Scope] = frozenset(Scope)

#: the login a break-glass token (api_tokens setting) acts as; no user can have it ('~')
BREAK_GLASS_LOGIN = "~api-token"

#: what a login may look like: letters, digits and . _ @ -; it is also the agent's directory key
LOGIN_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def valid_login(login: str) -> bool:
    return LOGIN_PATTERN.fullmatch(login) is not None


@dataclass(frozen=True, kw_only=True)
class Principal:
    """The identity a request acts as. Decided by the server from its credentials only."""

    login: str
    role: Role
    via: Via
    scopes: frozenset[Scope] = ALL_SCOPES
    #: extensions and endpoint names of the person's phones (`101`, `ivanov`): whose calls are theirs
    extensions: frozenset[str] = frozenset()
    name: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "login": self.login,
            "name": self.name,
            "role": self.role.value,
            "via": self.via.value,
            # what the credential can actually do: `admin` counts for administrators only
            "scopes": sorted(
                s.value for s in self.scopes if s is not Scope.ADMIN or self.role is Role.ADMIN
            ),
            "extensions": sorted(self.extensions),
        }


def break_glass_principal() -> Principal:
    return Principal(
        login=BREAK_GLASS_LOGIN, role=Role.ADMIN, via=Via.BREAK_GLASS, name="API token (settings)"
    )


__all__ = [
    "ALL_SCOPES",
    "BREAK_GLASS_LOGIN",
    "LOGIN_PATTERN",
    "Principal",
    "Role",
    "Scope",
    "Via",
    "break_glass_principal",
    "valid_login",
]
