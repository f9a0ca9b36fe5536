"""Access changes: a login was disabled, got a new password or role, lost a token or signed out.

Told at once to this process's listeners (its open websockets re-check themselves), and to the
other processes: through Redis when configured (`redis_url`: one publish, received in
milliseconds), else through a row of the database's `access_changes` log that every server
polls once a second (one read on the primary key), so that `cti user disable`, run in another
process, ends the user's feeds everywhere in about a second.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: what a listener gets: the login whose access changed, or None for "any login" (after the
#: signal itself was lost for a while, every open feed re-checks)
Listener = Callable[[str | None], None]


class AccessLog(Protocol):
    """The database's record of access changes (epoch seconds), read by every server."""

    async def append(self, login: str, now: float) -> int:
        """Record a change of `login`'s access; returns its position in the log."""
        ...

    async def after(self, position: int, *, limit: int = 1000) -> list[tuple[int, str]]:
        """The changes (position, login) recorded after `position`, oldest first."""
        ...

    async def last(self) -> int:
        """The newest position (0 when empty)."""
        ...

    async def prune(self, before: float) -> int:
        """Forget changes older than `before`; returns how many."""
        ...


class AccessChanges:
    """One per process: `changed()` where access changes, `watch()` (a task the application
    owns) where open feeds must learn of changes made in other processes."""

    def __init__(
        self,
        *,
        log: AccessLog | None = None,
        redis: Any = None,
        channel: str = "cti:access",
        owns_redis: bool = False,
        node_id: str = "",
        clock: Callable[[], float] = time.time,
        poll_every: float = 1.0,
        keep_for: float = 3600.0,
        backoff_max: float = 30.0,
    ) -> None:
        self._log = log
        self._redis = redis
        self._owns_redis = owns_redis
        self.channel = channel
        self.node_id = node_id or uuid.uuid4().hex[:8]
        self._clock = clock
        self.poll_every = poll_every
        self._keep_for = keep_for
        self._backoff_max = backoff_max
        self._listeners: list[Listener] = []
        self.told = 0  #: changes handed to the listeners (here or from elsewhere)
        self.failures = 0  #: changes that could not be passed on to other processes

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` synchronously with each change (it must not block)."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    async def changed(self, login: str) -> None:
        """`login`'s access changed (after the change is committed): tell this process at once,
        then the others. A failure to tell them is logged, not raised: the change holds, and
        their feeds still notice it at their next periodic re-check."""
        self._tell(login)
        try:
            if self._log is not None:
                await self._log.append(login, self._clock())
            if self._redis is not None:
                payload = json.dumps({"node": self.node_id, "login": login})
                await self._redis.publish(self.channel, payload)
        except Exception as exc:
            self.failures += 1
            log.warning(
                "could not tell other processes that %s's access changed (%s: %s); their open "
                "feeds notice at their next re-check",
                login,
                exc.__class__.__name__,
                exc,
            )

    def _tell(self, login: str | None) -> None:
        self.told += 1
        for listener in list(self._listeners):
            try:
                listener(login)
            except Exception:  # one listener's bug must not keep the change from the others
                log.exception("access change listener failed for %s", login)

    async def watch(self) -> None:
        """Until cancelled: changes made in other processes, from Redis or the database."""
        if self._redis is not None:
            await self._follow_redis()
        elif self._log is not None:
            await self._poll_log()

    async def _follow_redis(self) -> None:
        delay, lost = 0.5, False
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                delay = 0.5
                if lost:  # changes made meanwhile were not heard: every feed re-checks
                    self._tell(None)
                    lost = False
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30.0)
                    if message is not None and message.get("type") == "message":
                        self._heard(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                lost = True
                log.warning(
                    "access changes: Redis lost (%s: %s); reconnecting in %.1f s",
                    exc.__class__.__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
                delay = min(delay * 2, self._backoff_max)
            finally:
                try:  # bounded: a client closed under us (shutdown) must not hold up the cancel
                    async with asyncio.timeout(1.0):
                        await pubsub.aclose()
                except Exception:  # the connection is gone already
                    pass

    def _heard(self, data: bytes | str) -> None:
        try:
            payload = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return
        if not isinstance(payload, dict) or payload.get("node") == self.node_id:
            return  # not ours to read, or our own change, told here already
        login = payload.get("login")
        if isinstance(login, str) and login:
            self._tell(login)

    async def _poll_log(self, prune_every: float = 600.0, lookback: int = 64) -> None:
        """Every `poll_every` seconds, the rows after the newest seen. The last `lookback`
        positions are read again: on PostgreSQL two writers' rows can commit out of order (a
        lower id becomes visible after a higher one), and that lower one must not be missed."""
        assert self._log is not None
        position: int | None = None
        seen: set[int] = set()
        pruned = time.monotonic()
        while True:
            try:
                if position is None:
                    position = await self._log.last()  # what came before is no news
                    seen = set(range(max(1, position - lookback + 1), position + 1))
                else:
                    changes = await self._log.after(max(0, position - lookback))
                    fresh = [(at, login) for at, login in changes if at not in seen]
                    for login in dict.fromkeys(login for _, login in fresh):
                        self._tell(login)  # each login once per poll, however many rows
                    for at, _ in fresh:
                        seen.add(at)
                        position = max(position, at)
                    seen = {at for at in seen if at > position - lookback}
                if time.monotonic() - pruned >= prune_every:
                    pruned = time.monotonic()
                    await self._log.prune(self._clock() - self._keep_for)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "access changes: could not read the database (%s: %s); trying again",
                    exc.__class__.__name__,
                    exc,
                )
            await asyncio.sleep(self.poll_every)

    async def close(self) -> None:
        if self._redis is not None and self._owns_redis:
            await self._redis.aclose()


__all__ = ["AccessChanges", "AccessLog", "Listener"]
