"""Builds the AuthService from the settings; used by `cti serve`, `cti demo` and the commands."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.auth.service import AuthService
from cti.auth.sessions import SessionPolicy
from cti.auth.sql import SqlAuthStore
from cti.config import Settings


def auth_service(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> AuthService:
    return AuthService(
        store=SqlAuthStore(session_factory=session_factory),
        break_glass_tokens=settings.tokens(),
        sessions=SessionPolicy(
            ttl=settings.session_hours * 3600, idle_timeout=settings.session_idle_minutes * 60
        ),
    )


__all__ = ["auth_service"]
