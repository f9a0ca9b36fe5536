"""Builds the AuthService from the settings; used by `cti serve`, `cti demo` and the commands."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.auth.access import AccessChanges
from cti.auth.service import AuthService
from cti.auth.sessions import SessionPolicy
from cti.auth.sql import SqlAccessLog, SqlAuthStore
from cti.config import Settings

log = logging.getLogger(__name__)


def auth_service(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession], *, redis: Any = None
) -> AuthService:
    """`redis`: the server's client, shared; without it, one of its own when `redis_url` is set
    (the `cti` commands), closed by `auth.access.close()`."""
    return AuthService(
        store=SqlAuthStore(session_factory=session_factory),
        access=access_changes(settings, session_factory, redis=redis),
        break_glass_tokens=settings.tokens(),
        sessions=SessionPolicy(
            ttl=settings.session_hours * 3600, idle_timeout=settings.session_idle_minutes * 60
        ),
    )


def access_changes(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession], *, redis: Any = None
) -> AccessChanges:
    """Access changes go to the database's log always, and to Redis when configured: a server
    with Redis follows Redis, one without polls the log."""
    owns = False
    if redis is None and settings.redis_url:
        import redis.asyncio as aioredis

        redis, owns = aioredis.Redis.from_url(settings.redis_url), True
    return AccessChanges(
        log=SqlAccessLog(session_factory=session_factory),
        redis=redis,
        owns_redis=owns,
        channel=f"{settings.redis_prefix}access",
    )


def housekeeping(
    auth: AuthService, *, every: float = 3600.0
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup_ctx: says at start-up when nobody can sign in, purges expired sessions, and
    follows the access changes made in other processes (`cti user disable`, another server)."""

    async def run(app: web.Application) -> AsyncIterator[None]:
        await _warn_if_nobody_can_sign_in(auth)
        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(_purge_forever(auth, every), name="cti-auth"),
            loop.create_task(auth.access.watch(), name="cti-access-changes"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await auth.access.close()

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


__all__ = ["access_changes", "auth_service", "housekeeping"]
