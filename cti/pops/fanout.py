"""Fan-out across processes over Redis: one pub/sub channel, a node id on every message, own
echoes ignored, reconnects with capped exponential backoff."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from typing import Any

from cti.cluster.lease import AmiLease

log = logging.getLogger(__name__)


class RedisFanout:
    """Publishes this node's messages and hands every other node's to `on_message`.

    `publish` never waits: messages go out in order from one sender task, which keeps retrying
    the head of its queue while Redis is away (bounded: beyond `max_pending` the oldest go).
    """

    def __init__(
        self,
        *,
        redis: Any,
        node_id: str,
        on_message: Callable[[dict[str, Any]], None],
        on_connected: Callable[[], None] | None = None,
        channel: str = "cti:feed",
        backoff_min: float = 0.5,
        backoff_max: float = 30.0,
        max_pending: int = 100_000,
    ) -> None:
        self._redis = redis
        self.node_id = node_id
        self._on_message = on_message
        self._on_connected = on_connected
        self.channel = channel
        self._backoff = (backoff_min, backoff_max)
        self._pending: asyncio.Queue[str] = asyncio.Queue()
        self._max_pending = max_pending
        self.connected = False
        self.last_error = ""
        self.published = 0
        self.received = 0
        self.echoes = 0  #: our own messages coming back: ignored
        self.dropped = 0
        self.reconnects = 0

    def publish(self, payload: dict[str, Any]) -> None:
        """Queue `payload` (a JSON object) for every other node, stamped with our node id."""
        if self._pending.qsize() >= self._max_pending:
            self._pending.get_nowait()
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.error("Redis fan-out backlog full (%d): dropping the oldest", self._max_pending)
        text = json.dumps(
            {"node": self.node_id, **payload}, ensure_ascii=False, separators=(",", ":")
        )
        self._pending.put_nowait(text)

    async def run(self) -> None:
        """Listen and send until cancelled (a task the application owns)."""
        await asyncio.gather(self._listen_forever(), self._send_forever())

    # --- receiving -----------------------------------------------------------------------------

    def handle(self, data: bytes | str) -> None:
        try:
            payload = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            log.warning("ignoring a fan-out message that is not JSON")
            return
        if not isinstance(payload, dict):
            return
        if payload.get("node") == self.node_id:
            self.echoes += 1  # delivered locally before it was published
            return
        self.received += 1
        try:
            self._on_message(payload)
        except Exception:
            log.exception(
                "a fan-out message from node %s could not be delivered", payload.get("node")
            )

    async def _listen_forever(self) -> None:
        delay = self._backoff[0]
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                self.connected, self.last_error = True, ""
                delay = self._backoff[0]
                if self._on_connected is not None:
                    self._on_connected()
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30.0)
                    if message is not None and message.get("type") == "message":
                        self.handle(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected = False
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                self.reconnects += 1
                log.warning(
                    "Redis fan-out lost (%s); reconnecting in %.1f s", self.last_error, delay
                )
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
                delay = min(delay * 2, self._backoff[1])
            finally:
                self.connected = False
                try:
                    await pubsub.aclose()
                except Exception:  # the connection is gone already
                    pass

    # --- sending -------------------------------------------------------------------------------

    async def _send_forever(self, batch_max: int = 500) -> None:
        """In order, in pipelined batches: one round trip to Redis for whatever has queued
        meanwhile (one publish per round trip falls behind under load, and every pop waits)."""
        delay = self._backoff[0]
        while True:
            texts = [await self._pending.get()]
            while len(texts) < batch_max and not self._pending.empty():
                texts.append(self._pending.get_nowait())
            while True:
                try:
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for text in texts:
                            pipe.publish(self.channel, text)
                        await pipe.execute()
                    self.published += len(texts)
                    delay = self._backoff[0]
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.last_error = f"{exc.__class__.__name__}: {exc}"
                    log.warning("Redis fan-out publish failed (%s); retrying in %.1f s", exc, delay)
                    await asyncio.sleep(delay * (0.5 + random.random() / 2))
                    delay = min(delay * 2, self._backoff[1])

    @property
    def backlog(self) -> int:
        return self._pending.qsize()


#: the lease moved to `cti.cluster.lease` (it now decides who consumes AMI, with an epoch)
LeaderLease = AmiLease


__all__ = ["LeaderLease", "RedisFanout"]
