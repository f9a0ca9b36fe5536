"""Per-agent sequence numbers and a bounded replay log, so a reconnecting client resumes.

Every message a login receives on /ws is appended to that login's log and gets the next number
of the login's sequence (1, 2, 3...; never reused). A client that reconnects with the last number
it saw gets what it missed, in order, without gaps or repeats; one that is too far behind (the log
no longer reaches back that far) or that speaks of another stream (the server restarted with an
in-memory log, Redis was emptied) gets a fresh snapshot instead. The log also keeps each login's
open pops, for that snapshot.

`MemoryJournal` for one process; `RedisJournal` (Redis Streams) when several processes share the
work: any of them can then resume any client.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Entry:
    """One message of a login's log: its number and its JSON text without the number."""

    seq: int
    body: str


def numbered(seq: int, body: str) -> str:
    """The message as sent: `seq` spliced into the JSON object (bodies never carry one)."""
    return f'{{"seq":{seq},{body[1:]}' if len(body) > 2 else f'{{"seq":{seq}}}'


class Journal(Protocol):
    """What the feed needs of a log. `stream_id` names this log's numbering: a client's position
    is only meaningful within the stream it came from."""

    stream_id: str
    synchronous: bool  #: appends complete at once (memory): no ordered writer task needed

    def append_now(self, login: str, body: str) -> int: ...

    async def append(self, batch: Sequence[tuple[str, str]]) -> list[int]: ...

    async def head(self, login: str) -> int: ...

    async def since(self, login: str, after: int) -> list[Entry] | None: ...

    async def keep_pop(self, login: str, linkedid: str, view: str | None) -> None: ...

    async def pops(self, login: str) -> list[str]: ...

    async def close(self) -> None: ...


class _Log:
    __slots__ = ("entries", "seq")

    def __init__(self, limit: int) -> None:
        self.seq = 0
        self.entries: deque[tuple[int, str, float]] = deque(maxlen=limit)


class MemoryJournal:
    """The log in this process: at most `limit` messages and `max_age` seconds per login."""

    synchronous = True

    def __init__(
        self,
        *,
        limit: int = 200,
        max_age: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream_id = uuid.uuid4().hex[:12]
        self._limit = limit
        self._max_age = max_age
        self._clock = clock
        self._logs: dict[str, _Log] = {}
        self._pops: dict[str, dict[str, str]] = {}

    def append_now(self, login: str, body: str) -> int:
        log = self._logs.get(login)
        if log is None:
            log = self._logs[login] = _Log(self._limit)
        log.seq += 1
        now = self._clock()
        log.entries.append((log.seq, body, now))
        self._expire(log, now)
        return log.seq

    async def append(self, batch: Sequence[tuple[str, str]]) -> list[int]:
        return [self.append_now(login, body) for login, body in batch]

    async def head(self, login: str) -> int:
        log = self._logs.get(login)
        return log.seq if log is not None else 0

    async def since(self, login: str, after: int) -> list[Entry] | None:
        log = self._logs.get(login)
        head = log.seq if log is not None else 0
        if after < 0 or after > head:
            return None  # a position this stream never had
        if log is None or after == head:
            return []
        self._expire(log, self._clock())
        oldest = log.entries[0][0] if log.entries else head + 1
        if after + 1 < oldest:
            return None  # too far behind: the log no longer reaches back there
        return [Entry(seq, body) for seq, body, _ in log.entries if seq > after]

    async def keep_pop(self, login: str, linkedid: str, view: str | None) -> None:
        self.keep_pop_now(login, linkedid, view)

    def keep_pop_now(self, login: str, linkedid: str, view: str | None) -> None:
        mine = self._pops.setdefault(login, {})
        if view is None:
            mine.pop(linkedid, None)
            if not mine:
                del self._pops[login]
        else:
            mine[linkedid] = view

    async def pops(self, login: str) -> list[str]:
        return list(self._pops.get(login, {}).values())

    async def close(self) -> None:
        return None

    def _expire(self, log: _Log, now: float) -> None:
        entries = log.entries
        while entries and now - entries[0][2] > self._max_age:
            entries.popleft()

    @property
    def logins(self) -> int:
        return len(self._logs)

    @property
    def entries(self) -> int:
        return sum(len(log.entries) for log in self._logs.values())


# Redis: per login `<prefix><login>:seq` (INCR), `<prefix><login>` (a stream whose entry ids are
# `<seq>-0`, so a range read is a seq range), `<prefix><login>:pops` (hash linkedid -> view);
# `<prefix>~stream` names the numbering. A Redis that restarted empty (no persistence) has lost
# that key with every number: the first append after it starts a new stream (ARGV[3], or the id
# another process already put back) and returns it first, so every process learns that the
# numbers began again and its clients take a fresh snapshot instead of discarding what follows.
_APPEND = """
local stream = redis.call('GET', KEYS[1])
if not stream then
  redis.call('SET', KEYS[1], ARGV[3])
  stream = ARGV[3]
end
local out = {stream}
local n = (#KEYS - 1) / 2
for i = 1, n do
  local seq = redis.call('INCR', KEYS[2 * i])
  redis.call('XADD', KEYS[2 * i + 1], 'MAXLEN', '~', ARGV[1], seq .. '-0', 'b', ARGV[i + 3])
  redis.call('EXPIRE', KEYS[2 * i + 1], ARGV[2])
  out[i + 1] = seq
end
return out
"""


class RedisJournal:
    """The log in Redis Streams, shared by every process (numbers are assigned by Redis)."""

    synchronous = False

    def __init__(
        self,
        *,
        redis: Any,
        prefix: str = "cti:feed:",
        limit: int = 200,
        max_age: float = 120.0,
        stream_id: str = "",
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._limit = limit
        # an idle login's stream goes away; its number (the :seq key) stays, so never reused
        self._ttl = max(60, int(max_age * 10))
        self.stream_id = stream_id
        self.restarts = 0  #: times Redis was found emptied under us
        self._stream_key = f"{prefix}~stream"  # never a login: logins have no "~"
        self._script = redis.register_script(_APPEND)

    async def start(self) -> None:
        """Take the stream id every process shares (made by the first one)."""
        key = self._stream_key
        await self._redis.set(key, uuid.uuid4().hex[:12], nx=True)
        self.stream_id = _text(await self._redis.get(key))

    def append_now(self, login: str, body: str) -> int:
        raise RuntimeError("RedisJournal appends are asynchronous: use append()")

    async def append(self, batch: Sequence[tuple[str, str]]) -> list[int]:
        if not batch:
            return []
        keys: list[str] = [self._stream_key]
        for login, _ in batch:
            keys += [f"{self._prefix}{login}:seq", f"{self._prefix}{login}"]
        args = [self._limit, self._ttl, uuid.uuid4().hex[:12], *(body for _, body in batch)]
        stream, *seqs = await self._script(keys=keys, args=args)
        self.adopt(_text(stream))
        return [int(s) for s in seqs]

    def adopt(self, stream_id: str) -> bool:
        """Take `stream_id` as the numbering from now on (Redis lost its data and a new stream
        began); True when it is new here: the feeds of this process must then start afresh."""
        if not stream_id or stream_id == self.stream_id:
            return False
        if self.stream_id:
            self.restarts += 1
            log.warning(
                "the feed journal in Redis lost its data (restarted without persistence?): "
                "numbering begins again as stream %s; consoles reconnect and take a fresh snapshot",
                stream_id,
            )
        self.stream_id = stream_id
        return True

    async def head(self, login: str) -> int:
        value = await self._redis.get(f"{self._prefix}{login}:seq")
        return int(value) if value is not None else 0

    async def since(self, login: str, after: int) -> list[Entry] | None:
        stream = f"{self._prefix}{login}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(f"{stream}:seq")
            pipe.xrange(stream, "-", "+", count=1)
            pipe.xrange(stream, f"{after + 1}-0", "+")
            raw_head, first, rest = await pipe.execute()
        head = int(raw_head) if raw_head is not None else 0
        if after < 0 or after > head:
            return None
        if after == head:
            return []
        oldest = _seq(first[0][0]) if first else head + 1
        if after + 1 < oldest:
            return None
        return [Entry(_seq(entry_id), _text(_field(fields, "b"))) for entry_id, fields in rest]

    async def keep_pop(self, login: str, linkedid: str, view: str | None) -> None:
        key = f"{self._prefix}{login}:pops"
        if view is None:
            await self._redis.hdel(key, linkedid)
        else:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, linkedid, view)
                pipe.expire(key, 86_400)  # a pop whose end was never seen does not live forever
                await pipe.execute()

    async def pops(self, login: str) -> list[str]:
        return [_text(v) for v in await self._redis.hvals(f"{self._prefix}{login}:pops")]

    async def open_pops(self, logins: Sequence[str]) -> set[tuple[str, str]]:
        """(login, linkedid) of every pop open now: what a new AMI consumer must not pop again."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for login in logins:
                pipe.hkeys(f"{self._prefix}{login}:pops")
            answers = await pipe.execute()
        return {
            (login, _text(lid)) for login, lids in zip(logins, answers, strict=True) for lid in lids
        }

    async def close(self) -> None:
        return None


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _field(fields: Any, name: str) -> Any:
    return fields[name.encode()] if name.encode() in fields else fields[name]


def _seq(entry_id: Any) -> int:
    return int(_text(entry_id).split("-", 1)[0])


__all__ = ["Entry", "Journal", "MemoryJournal", "RedisJournal", "numbered"]
