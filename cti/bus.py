"""In-process publish/subscribe of live events (calls now; pops and agent state later)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

log = logging.getLogger(__name__)


class Subscription:
    """One subscriber's bounded queue; a subscriber that falls behind is dropped, not waited for."""

    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize)
        self.overflowed = False

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> dict[str, Any]:
        item = await self.queue.get()
        if item is None:
            raise StopAsyncIteration
        return item


class InProcessBus:
    """Fan-out to every subscriber of this process. Redis-backed fan-out is a later drop-in."""

    def __init__(self, *, queue_size: int = 1000) -> None:
        self._subscribers: set[Subscription] = set()
        self._queue_size = queue_size
        self.published = 0

    def publish(self, message: dict[str, Any]) -> None:
        self.published += 1
        for sub in list(self._subscribers):
            if sub.overflowed:
                continue
            try:
                sub.queue.put_nowait(message)
            except asyncio.QueueFull:
                sub.overflowed = True
                log.warning(
                    "bus subscriber fell %d messages behind; disconnecting it", self._queue_size
                )
                self._subscribers.discard(sub)
                _close(sub)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        sub = Subscription(self._queue_size)
        self._subscribers.add(sub)
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)


def _close(sub: Subscription) -> None:
    try:
        sub.queue.put_nowait(None)
    except asyncio.QueueFull:
        # drain one to make room for the end marker: the consumer is gone anyway
        sub.queue.get_nowait()
        sub.queue.put_nowait(None)
