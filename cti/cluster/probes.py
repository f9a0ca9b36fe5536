"""Readiness probes of the services a process depends on: the database and Redis, checked in
the background so /health/ready answers at once and never piles up connections."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import text

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
        self.redis_error: str | None = "not checked yet" if redis is not None else None

    @property
    def database_ok(self) -> bool:
        return self.database_error is None

    @property
    def redis_ok(self) -> bool:
        return self.redis_error is None

    async def check(self) -> None:
        self.database_error = await self._try(self._select_one)
        if self._redis is not None:
            self.redis_error = await self._try(self._redis.ping)

    async def _select_one(self) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

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


__all__ = ["Probes"]
