"""Readiness probes of the services a process depends on: the database and Redis, checked in
the background so /health/ready answers at once and never piles up connections."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)


class Probes:
    """`SELECT 1` and `PING` every `every` seconds; each answer within `timeout` or it failed."""

    def __init__(
        self, *, engine: Any, redis: Any = None, every: float = 2.0, timeout: float = 2.0
    ) -> None:
        self._engine = engine
        self._redis = redis
        self.every = every
        self.timeout = timeout
        self.database_error: str | None = "not checked yet"
        #: why the database is not ready, as an operator reads it (None: ready)
        self.database_reason: str | None = "database not checked yet"
        # PostgreSQL: a connection of the probe's own, outside the pool, so that a pool held by
        # stuck sessions reads as that, not as "unreachable"
        self._direct: Any = None
        self._waiting: list[Any] = []  #: lock waiters the last pooled probe saw
        url = getattr(engine, "url", None)
        if url is not None and url.get_backend_name() == "postgresql":
            self._direct = create_async_engine(url, poolclass=NullPool)
        self.redis_error: str | None = "not checked yet" if redis is not None else None

    @property
    def database_ok(self) -> bool:
        return self.database_error is None

    @property
    def redis_ok(self) -> bool:
        return self.redis_error is None

    async def check(self) -> None:
        self.database_error = await self._try(self._select_one)
        self.database_reason = await self._database_reason(self.database_error)
        if self._redis is not None:
            self.redis_error = await self._try(self._redis.ping)

    async def _select_one(self) -> None:
        async with self._engine.connect() as conn:
            if self._direct is None:
                await conn.execute(text("SELECT 1"))
            else:  # PostgreSQL: the same round trip also says who waits for a lock
                self._waiting = list((await conn.execute(text(_LOCK_WAITERS))).all())

    async def _database_reason(self, pooled_error: str | None) -> str | None:
        if self._direct is None:
            return None if pooled_error is None else f"database unreachable ({pooled_error})"
        waiting: list[Any] = self._waiting if pooled_error is None else []
        if pooled_error is not None:  # the pool gave nothing: ask outside it why

            async def direct() -> None:
                async with self._direct.connect() as conn:
                    waiting.extend((await conn.execute(text(_LOCK_WAITERS))).all())

            direct_error = await self._try(direct)
            if direct_error is not None:
                return f"database unreachable ({direct_error})"
        if waiting:
            blockers = sorted({str(pid) for row in waiting for pid in row.blockers or ()})
            return (
                f"database locked: {len(waiting)} session(s) waiting for a lock"
                + (f" held by PostgreSQL pid {', '.join(blockers)}" if blockers else "")
                + " (a paused process inside a transaction? it is ended after "
                "database_idle_in_transaction_timeout)"
            )
        if pooled_error is not None:
            pool = self._engine.sync_engine.pool
            return (
                f"database answers, but none of this process's {pool.checkedout()} pooled "
                f"connections came free within {self.timeout:g} s ({pooled_error}): long "
                "statements or held locks"
            )
        return None

    async def close(self) -> None:
        if self._direct is not None:
            await self._direct.dispose()

    async def _try(self, probe: Any) -> str | None:
        try:
            async with asyncio.timeout(self.timeout):
                await probe()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
        return None

    async def run(self) -> None:
        """A task the application owns."""
        while True:
            await self.check()
            await asyncio.sleep(self.every)


# sessions of this database waiting for a lock, with the sessions holding it up
_LOCK_WAITERS = """
SELECT pid, pg_blocking_pids(pid) AS blockers FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()
"""


__all__ = ["Probes"]
