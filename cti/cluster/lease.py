"""The AMI consumer lease: exactly one process at a time consumes AMI and writes what calls
mean, holding a Redis key (`SET NX PX`, renewed) that carries a fencing epoch.

The epoch is a Redis counter raised on every acquisition. Writes of the call pipeline carry it
and the database refuses one older than the newest it has seen (`cti.cluster.fence`), so a
paused former leader that wakes up cannot write stale state. The holder counts itself leader
only while its last renewal is recent enough (`valid()`): it steps down on its own, before the
key expires in Redis, when it cannot renew.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

#: KEYS: lease, epoch counter. ARGV: node id, ttl ms, epoch held (0: none), floor (the
#: newest epoch the database has seen: a Redis that lost its data never hands out an old one).
#: Returns the epoch held after the call (0: another node holds the lease).
_ACQUIRE_OR_RENEW = """
local mine = ARGV[1] .. ':' .. ARGV[3]
local value = redis.call('GET', KEYS[1])
if value == mine then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(ARGV[3])
end
if value then
  return 0
end
local held = tonumber(ARGV[3])
local counter = tonumber(redis.call('GET', KEYS[2]) or '0')
if held > 0 and counter <= held then
  redis.call('SET', KEYS[2], held)
  redis.call('SET', KEYS[1], mine, 'PX', ARGV[2])
  return held
end
local epoch = math.max(counter, tonumber(ARGV[4])) + 1
redis.call('SET', KEYS[2], epoch)
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. epoch, 'PX', ARGV[2])
return epoch
"""

#: deletes the lease only if this node still holds it with this epoch
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

#: told of every change: the new epoch (None: not the leader any more) and whether this node
#: held the epoch just before it (the same node kept consuming: its live calls are current)
OnChange = Callable[[int | None, bool], None]


class AmiLease:
    """Who consumes AMI: the holder of `key` in Redis, for `ttl` seconds past each renewal."""

    def __init__(
        self,
        *,
        redis: Any,
        node_id: str,
        key: str = "cti:lease",
        ttl: float = 3.0,
        renew_every: float | None = None,
        floor: Callable[[], Awaitable[int]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self.node_id = node_id
        self.key = key
        self.epoch_key = f"{key}:epoch"
        self.ttl = ttl
        self.renew_every = renew_every if renew_every is not None else ttl / 4
        self._floor = floor
        self.floor_timeout = min(1.0, ttl / 4)  #: how long a takeover waits for the database
        self._known_floor = 0  #: the newest fenced epoch last read (used when a read is slow)
        self._clock = clock
        self.epoch: int | None = None  #: the epoch held now (None: standby)
        self.last_epoch: int | None = None  #: the last epoch this node held
        self.changes = 0
        self.errors = 0
        self.last_error = ""
        self._valid_until = 0.0
        self._listeners: list[OnChange] = []
        self._acquire = redis.register_script(_ACQUIRE_OR_RENEW)
        self._release = redis.register_script(_RELEASE)

    @property
    def is_leader(self) -> bool:
        return self.valid()

    def valid(self) -> bool:
        """True while this node holds the lease and renewed it recently enough to be sure no
        other node can have it: checked for every AMI event, so a paused leader drops what it
        reads on waking instead of acting on it."""
        return self.epoch is not None and self._clock() < self._valid_until

    def on_change(self, listener: OnChange) -> None:
        self._listeners.append(listener)

    async def step(self) -> bool:
        """Acquire or renew once; True when this node holds the lease afterwards."""
        started = self._clock()
        if self.epoch is not None and started >= self._valid_until:
            self._set(None, "its renewal is overdue")
        floor = self._known_floor
        if self._floor is not None and self.epoch is None:
            try:
                # bounded: a slow database must not hold up a takeover (it took 20 s); the
                # fence in the database still refuses any write under a stale epoch
                read = await asyncio.wait_for(self._floor(), timeout=self.floor_timeout)
                floor = self._known_floor = max(self._known_floor, read)
            except TimeoutError:
                log.info("the newest fenced epoch is unknown (the database is slow)")
            except Exception as exc:  # the database away: Redis's counter alone decides
                log.info("the newest fenced epoch is unknown (%s)", exc)
        try:
            got = int(
                await self._acquire(
                    keys=[self.key, self.epoch_key],
                    args=[self.node_id, int(self.ttl * 1000), self.epoch or 0, floor],
                )
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis away: keep leading until the lease may have run out
            self.errors += 1
            self.last_error = f"{exc.__class__.__name__}: {exc}"
            log.warning(
                "AMI lease not renewed (%s)",
                self.last_error,
                extra={"node": self.node_id, "epoch": self.epoch, "event": "lease_error"},
            )
            if self.epoch is not None and self._clock() >= self._valid_until:
                self._set(None, "Redis is unreachable")
            return self.valid()
        self.last_error = ""
        if got:
            # sure until the key can have expired in Redis, less a margin for clock drift
            self._valid_until = started + self.ttl * 0.9
            # an epoch held may have written: never below it again, even with Redis emptied
            self._known_floor = max(self._known_floor, got)
            if got != self.epoch:
                self._set(got, "acquired")
        elif self.epoch is not None:
            self._set(None, "another node holds it")
        return self.valid()

    def _set(self, epoch: int | None, why: str) -> None:
        before = self.epoch
        continuous = (
            epoch is not None and self.last_epoch is not None and epoch == self.last_epoch + 1
        )
        continuous = continuous or (epoch is not None and epoch == before)
        self.epoch = epoch
        if epoch is not None:
            self.last_epoch = epoch
        self.changes += 1
        log.warning(
            "node %s %s the AMI lease (%s)%s",
            self.node_id,
            "holds" if epoch is not None else "gave up",
            why,
            f", epoch {epoch}" if epoch is not None else f", was epoch {before}",
            extra={
                "node": self.node_id,
                "epoch": epoch if epoch is not None else before,
                "leader": epoch is not None,
                "event": "lease_acquired" if epoch is not None else "lease_lost",
                "reason": why,
            },
        )
        for listener in self._listeners:
            try:
                listener(epoch, continuous)
            except Exception:  # one listener's bug must not keep the others uninformed
                log.exception("AMI lease listener %r failed", listener)

    async def run(self) -> None:
        """Acquire, renew, take over: a task the application owns."""
        while True:
            await self.step()
            await asyncio.sleep(self.renew_every)

    async def release(self) -> None:
        """Shutting down: hand the lease over at once instead of letting it expire."""
        epoch = self.epoch
        if epoch is not None:
            self._set(None, "shutting down")
            try:
                await self._release(keys=[self.key], args=[f"{self.node_id}:{epoch}"])
            except Exception:  # the lease expires by itself
                log.info("AMI lease not released (Redis away); it expires in %.1f s", self.ttl)


__all__ = ["AmiLease", "OnChange"]
