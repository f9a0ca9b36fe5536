"""Tables of secrets, kept apart from the agents directory: password hashes, sessions, API tokens,
and the log of access changes.

Registered on the shared metadata by `cti.db.models`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.models import Base


class Credential(Base):
    """A person's password hash (argon2id); the person is the agent with this login."""

    __tablename__ = "credentials"

    login: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]  #: set by `cti user disable`: no login, no token works


class SessionRow(Base):
    """A console login; the cookie holds the token, this table only its SHA-256."""

    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    login: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token for integrations and scripts (`cti token create`), stored hashed."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(100))  #: comma-separated, e.g. "read,write"
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AccessChange(Base):
    """A login whose access changed (`cti.auth.access`): servers read the rows after the last
    they saw, once a second, and re-check that login's open websockets."""

    __tablename__ = "access_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime]


__all__ = ["AccessChange", "ApiToken", "Credential", "SessionRow"]
