"""In-process publish/subscribe of live events: calls, pops, callbacks, agents' states."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
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
    """Fan-out to every listener and subscriber of this process (across processes, the feed's
    Redis fan-out carries what websockets need: `cti.pops.fanout`)."""

    def __init__(self, *, queue_size: int = 1000) -> None:
        self._subscribers: set[Subscription] = set()
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._queue_size = queue_size
        self.published = 0
        self.listener_errors = 0

    def listen(self, callback: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Call `callback` with every message, synchronously, in publishing order (it must not
        block: the websocket feed routes and queues there). Returns the way to stop."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback)

    def publish(self, message: dict[str, Any]) -> None:
        self.published += 1
        for listener in self._listeners:
            try:
                listener(message)
            except Exception:  # one listener's bug must not stop the others or the publisher
                self.listener_errors += 1
                log.exception("bus listener failed on a %s message", message.get("type"))
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
