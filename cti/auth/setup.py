"""Builds the AuthService from the settings; used by `cti serve`, `cti demo` and the commands."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.auth.service import AuthService
from cti.auth.sessions import SessionPolicy
from cti.auth.sql import SqlAuthStore
from cti.config import Settings

log = logging.getLogger(__name__)


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


def housekeeping(
    auth: AuthService, *, every: float = 3600.0
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup_ctx: says at start-up when nobody can sign in, and purges expired sessions."""

    async def run(app: web.Application) -> AsyncIterator[None]:
        await _warn_if_nobody_can_sign_in(auth)
        task = asyncio.get_running_loop().create_task(_purge_forever(auth, every), name="cti-auth")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return run


async def _warn_if_nobody_can_sign_in(auth: AuthService) -> None:
    try:
        users = [c for c in await auth.store.all_credentials() if not c.disabled]
    except Exception:
        log.exception("could not count the users")
        return
    if not users and not auth.has_break_glass:
        log.warning(
            "nobody can sign in yet: create an administrator with "
            "`cti user add LOGIN --role admin` (the password is read from stdin)"
        )


async def _purge_forever(auth: AuthService, every: float) -> None:
    while True:
        try:
            purged = await auth.purge()
            if purged:
                log.info("purged %d expired session(s)", purged)
        except Exception:
            log.exception("purging expired sessions failed; trying again later")
        await asyncio.sleep(every)


__all__ = ["auth_service", "housekeeping"]
