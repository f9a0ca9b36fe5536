"""API and session tokens: random, shown once, stored only as SHA-256 hashes; token scopes."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from cti.auth.principal import Scope

#: API tokens start with this, so a leaked one is easy to recognise (and to grep for)
TOKEN_PREFIX = "cti_"
#: longer bearer values are not tokens of ours; refused before hashing
MAX_TOKEN_LENGTH = 256
#: what `cti token create` gives when no --scope is named
DEFAULT_SCOPES: frozenset[Scope] = frozenset({Scope.READ})


def new_api_token() -> str:
    """`cti_` and 256 random bits: too many to guess, so bearer checks need no lockout."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the database keeps. A plain hash suffices: the token is random, not a password."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def usable(token: str) -> bool:
    return 0 < len(token) <= MAX_TOKEN_LENGTH


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    """`["read", "write"]` or `["read,write"]`; an unknown name is an error that lists the known."""
    found: set[Scope] = set()
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            try:
                found.add(Scope(name))
            except ValueError:
                known = ", ".join(s.value for s in Scope)
                raise ValueError(f"unknown scope {name!r}; known scopes: {known}") from None
    return frozenset(found)


def format_scopes(scopes: Iterable[Scope]) -> str:
    order = list(Scope)
    return ",".join(s.value for s in sorted(set(scopes), key=order.index))


__all__ = [
    "DEFAULT_SCOPES",
    "MAX_TOKEN_LENGTH",
    "TOKEN_PREFIX",
    "format_scopes",
    "new_api_token",
    "new_session_token",
    "parse_scopes",
    "token_hash",
    "usable",
]
