"""Click-to-call: AMI Originate from the agent's own phone to a number, never sent twice.

The client names each attempt with an idempotency key; the first request with a key sends the
Originate, every later one with the same key (a double click, a retry after a timeout, another
process behind the load balancer) gets the first one's answer and sends nothing. Only an attempt
that never reached the PBX (not connected) frees its key for a retry.
"""

from __future__ import annotations

import asyncio
import enum
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cti.ami.actions import diallable, originate


class Failure(enum.StrEnum):
    BAD_NUMBER = "bad_number"  #: not a number we can dial
    NO_PHONE = "no_phone"  #: the agent has no phone (device or extension) in the directory
    NOT_CONNECTED = "not_connected"  #: AMI is down: nothing was sent, a retry may send
    REFUSED = "refused"  #: the PBX answered Error (unknown channel, bad context...)
    UNKNOWN = "unknown"  #: sent, but no answer came: it may ring; never re-sent
    KEY_REUSED = "key_reused"  #: the key was used for another number
    BUSY = "busy"  #: the same key is being sent right now (another process)


class ClickToCallError(Exception):
    def __init__(self, failure: Failure, detail: str) -> None:
        super().__init__(detail)
        self.failure = failure


@dataclass(frozen=True)
class Placed:
    number: str
    device: str
    action_id: str
    at: float
    replayed: bool = False  #: answered from the key's record: nothing was sent this time
    error: str = ""  #: the first attempt's failure (replayed as the same failure)
    failure: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "originating",
            "number": self.number,
            "device": self.device,
            "action_id": self.action_id,
            "replayed": self.replayed,
        }


class KeyStore(Protocol):
    """Remembers idempotency keys: `claim` is True for the first claimant only."""

    async def claim(self, key: str, ttl: float) -> bool: ...

    async def save(self, key: str, value: str, ttl: float) -> None: ...

    async def load(self, key: str) -> str | None: ...

    async def release(self, key: str) -> None: ...


class MemoryKeys:
    """Keys in this process (one `cti serve`)."""

    def __init__(self, *, size: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._items: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self._size = size
        self._clock = clock

    async def claim(self, key: str, ttl: float) -> bool:
        now = self._clock()
        found = self._items.get(key)
        if found is not None and found[0] > now:
            return False
        self._items[key] = (now + ttl, None)
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)
        return True

    async def save(self, key: str, value: str, ttl: float) -> None:
        self._items[key] = (self._clock() + ttl, value)

    async def load(self, key: str) -> str | None:
        found = self._items.get(key)
        return found[1] if found is not None and found[0] > self._clock() else None

    async def release(self, key: str) -> None:
        self._items.pop(key, None)


class RedisKeys:
    """Keys in Redis: every process behind the load balancer sees them."""

    def __init__(self, redis: Any, prefix: str = "cti:originate:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def claim(self, key: str, ttl: float) -> bool:
        return bool(await self._redis.set(self._prefix + key, "", nx=True, px=int(ttl * 1000)))

    async def save(self, key: str, value: str, ttl: float) -> None:
        await self._redis.set(self._prefix + key, value, px=int(ttl * 1000))

    async def load(self, key: str) -> str | None:
        value = await self._redis.get(self._prefix + key)
        if value is None:
            return None
        text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
        return text or None

    async def release(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


class NotConnected(Exception):
    """Raised by `send` when the action could not be sent at all."""


class ClickToCall:
    """Places click-to-calls through `send` (AmiClient.action)."""

    def __init__(
        self,
        *,
        send: Callable[[Mapping[str, Any]], Awaitable[Any]],
        context: str,
        keys: KeyStore | None = None,
        remember: float = 3600.0,
        connected: Callable[[], bool] = lambda: True,
        not_connected: tuple[type[BaseException], ...] = (NotConnected,),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._send = send
        self.context = context
        self._keys = keys if keys is not None else MemoryKeys()
        self._remember = remember
        self._connected = connected
        self._unsure: tuple[type[BaseException], ...] = (TimeoutError, *not_connected)
        self._clock = clock
        self.sent = 0
        self.replayed = 0

    async def place(
        self, *, login: str, device: str, number: str, key: str, caller_id: str = ""
    ) -> Placed:
        """Ring `device` (the agent's own phone), then dial `number`; once per (login, key)."""
        dial = diallable(number)
        if dial is None:
            raise ClickToCallError(Failure.BAD_NUMBER, f"{number[:40]!r} is not a number to dial")
        if not device:
            raise ClickToCallError(
                Failure.NO_PHONE, f"{login} has no phone (device or extension) in the directory"
            )
        slot = f"{login}:{key}"
        if not await self._keys.claim(slot, self._remember):
            return await self._replay(slot, dial)
        action_id = f"cti-c2c-{uuid.uuid4().hex[:16]}"
        fields = originate(
            device=device,
            number=dial,
            context=self.context,
            action_id=action_id,
            caller_id=caller_id,
            variables={"CTI_CLICK2CALL": "1"},
        )
        placed = Placed(number=dial, device=device, action_id=action_id, at=self._clock())
        if not self._connected():
            await self._keys.release(slot)  # nothing reaches the PBX: a retry may send
            raise ClickToCallError(Failure.NOT_CONNECTED, "the PBX is not connected; try again")
        try:
            await self._send(fields)
        except self._unsure:
            # it may have reached the PBX: the phone may still ring, so never send it again
            placed = _failed(
                placed, Failure.UNKNOWN, "the PBX did not answer; the phone may still ring"
            )
        except Exception as exc:  # the PBX refused (Response: Error)
            placed = _failed(placed, Failure.REFUSED, f"the PBX refused: {exc}")
        self.sent += 1
        await self._keys.save(slot, json.dumps(placed.__dict__), self._remember)
        _raise_if_failed(placed)
        return placed

    async def _replay(self, slot: str, dial: str) -> Placed:
        for _ in range(60):  # the first request may still be sending (another process)
            stored = await self._keys.load(slot)
            if stored is not None:
                placed = Placed(**{**json.loads(stored), "replayed": True})
                if placed.number != dial:
                    raise ClickToCallError(
                        Failure.KEY_REUSED, "this Idempotency-Key was used for another number"
                    )
                self.replayed += 1
                _raise_if_failed(placed)
                return placed
            await asyncio.sleep(0.05)
        raise ClickToCallError(
            Failure.BUSY, "this click-to-call is being placed; try again shortly"
        )


def _failed(placed: Placed, failure: Failure, detail: str) -> Placed:
    return Placed(**{**placed.__dict__, "failure": failure.value, "error": detail})


def _raise_if_failed(placed: Placed) -> None:
    if placed.failure:
        raise ClickToCallError(Failure(placed.failure), placed.error)


__all__ = [
    "ClickToCall",
    "ClickToCallError",
    "Failure",
    "KeyStore",
    "MemoryKeys",
    "NotConnected",
    "Placed",
    "RedisKeys",
]
