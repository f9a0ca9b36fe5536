"""What the next AMI consumer carries on from, kept in Redis by the current one: every live call
whole, and every finished call until the database has it. A leader SIGKILLed, paused or cut off
loses nothing it had read: the standby that takes the lease adopts the live calls before its
resync (which ends, as of then, those whose channels are gone: the calls that ended while nobody
read AMI are recorded, not forgotten) and writes the finished ones under its own epoch.

Writes are batched (`every` seconds) and fenced by the lease epoch in Redis itself: a former
leader waking up cannot overwrite what the new one keeps. A write lost with the process (the
last `every` seconds) costs precision, not a call: a call finished in that window is still live
here, and the new consumer's resync finds its channels gone and ends it."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from cti.calls.codec import call_from_json, call_to_json
from cti.calls.model import Call, CallRecord

log = logging.getLogger(__name__)

# KEYS: epoch, live, unsaved. ARGV: epoch, then four groups, each a count and its items:
# live to set (id, json)..., live to delete id..., unsaved to set (id, json)..., unsaved to
# delete id.... Refused (0) when a newer epoch has taken over.
_WRITE = """
local newest = tonumber(redis.call('GET', KEYS[1]) or '0')
local epoch = tonumber(ARGV[1])
if newest > epoch then return 0 end
local i = 2
local function pairs_into(key)
  local n = tonumber(ARGV[i]); i = i + 1
  for _ = 1, n do redis.call('HSET', key, ARGV[i], ARGV[i + 1]); i = i + 2 end
end
local function ids_from(key)
  local n = tonumber(ARGV[i]); i = i + 1
  for _ = 1, n do redis.call('HDEL', key, ARGV[i]); i = i + 1 end
end
pairs_into(KEYS[2]); ids_from(KEYS[2]); pairs_into(KEYS[3]); ids_from(KEYS[3])
return 1
"""

# KEYS: epoch, live, unsaved. ARGV: the taker's epoch. From now on only it (or newer) writes.
_TAKE = """
local newest = tonumber(redis.call('GET', KEYS[1]) or '0')
local epoch = tonumber(ARGV[1])
if newest > epoch then return {0, {}, {}} end
redis.call('SET', KEYS[1], epoch)
return {1, redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[3])}
"""


class Handover:
    """One per process with Redis; only the lease holder's CallService feeds it."""

    def __init__(
        self,
        *,
        redis: Any,
        prefix: str,
        epoch: Callable[[], int | None],
        every: float = 0.2,
    ) -> None:
        self._redis = redis
        self._keys = [f"{prefix}epoch", f"{prefix}live", f"{prefix}unsaved"]
        self._epoch = epoch
        self.every = every
        self._write = redis.register_script(_WRITE)
        self._take = redis.register_script(_TAKE)
        self._sent: dict[str, Call] = {}  #: the version of each live call Redis has (or gets)
        self._live: dict[str, Call] = {}  #: changed since the last write
        self._ended: set[str] = set()
        self._unsaved: dict[str, CallRecord] = {}
        self._stored: set[str] = set()
        self._wake = asyncio.Event()
        self.refused = 0  #: writes refused: a newer consumer had taken over
        self.errors = 0
        self.last_error = ""

    # --- from CallService (never awaits) --------------------------------------------------

    def live(self, call: Call) -> None:
        if self._sent.get(call.linkedid) is call:
            return
        self._sent[call.linkedid] = call
        self._live[call.linkedid] = call
        self._wake.set()

    def finished(self, record: CallRecord) -> None:
        self._sent.pop(record.linkedid, None)
        self._live.pop(record.linkedid, None)
        self._ended.add(record.linkedid)
        self._unsaved[record.linkedid] = record
        self._stored.discard(record.linkedid)
        self._wake.set()

    def stored(self, records: Sequence[CallRecord]) -> None:
        for record in records:
            if self._unsaved.pop(record.linkedid, None) is None:
                self._stored.add(record.linkedid)
        self._wake.set()

    def forget(self) -> None:
        """Lost the lease: what is not written yet is the next consumer's to know."""
        self._sent.clear()
        self._live.clear()
        self._ended.clear()
        self._unsaved.clear()
        self._stored.clear()

    @property
    def waiting(self) -> int:
        return len(self._live) + len(self._ended) + len(self._unsaved) + len(self._stored)

    # --- the writer -----------------------------------------------------------------------

    async def write_forever(self) -> None:
        """A task the application owns."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.write()
            await asyncio.sleep(self.every)

    async def write(self) -> bool:
        """Write what changed since the last write; False when refused or Redis failed (then
        kept for the next try, unless a newer consumer has taken over)."""
        epoch = self._epoch()
        if epoch is None or not (self._live or self._ended or self._unsaved or self._stored):
            return True
        live, ended, unsaved, stored = self._live, self._ended, self._unsaved, self._stored
        self._live, self._ended, self._unsaved, self._stored = {}, set(), {}, set()
        args: list[Any] = [epoch, len(live)]
        for linkedid, call in live.items():
            args += [linkedid, json.dumps(call_to_json(call), separators=(",", ":"))]
        args += [len(ended), *ended, len(unsaved)]
        for linkedid, record in unsaved.items():
            args += [linkedid, json.dumps(record.to_json(), separators=(",", ":"))]
        args += [len(stored), *stored]
        try:
            done = int(await self._write(keys=self._keys, args=args))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis away: keep it all for the next write
            self.errors += 1
            self.last_error = f"{exc.__class__.__name__}: {exc}"
            log.warning("could not keep the live calls in Redis for a takeover (%s)", exc)
            self._merge_back(live, ended, unsaved, stored)
            self._wake.set()
            return False
        self.last_error = ""
        if not done:
            self.refused += 1
            log.warning(
                "a newer AMI consumer has taken over: this process's live calls are its to keep",
                extra={"event": "handover_refused", "epoch": epoch},
            )
            return False
        return True

    def _merge_back(
        self,
        live: dict[str, Call],
        ended: set[str],
        unsaved: dict[str, CallRecord],
        stored: set[str],
    ) -> None:
        for linkedid, call in live.items():
            if linkedid not in self._ended and linkedid not in self._unsaved:
                self._live.setdefault(linkedid, call)
        self._ended |= ended
        for linkedid, record in unsaved.items():
            if linkedid not in self._stored:
                self._unsaved.setdefault(linkedid, record)
        self._stored |= stored - set(self._unsaved)

    # --- the taker ------------------------------------------------------------------------

    async def take_over(self, epoch: int) -> tuple[list[Call], list[CallRecord]]:
        """On acquiring the lease: fence out the former consumer, read what it kept."""
        self.forget()
        done, live, unsaved = await self._take(keys=self._keys, args=[epoch])
        if not int(done):
            return [], []
        calls = _decoded(live, lambda data: call_from_json(data), "live call")
        records = _decoded(unsaved, CallRecord.from_json, "finished call")
        for call in calls:
            self._sent[call.linkedid] = call  # Redis has them as they are
        return calls, records


def _decoded(flat: list[Any], decode: Callable[[dict[str, Any]], Any], what: str) -> list[Any]:
    out: list[Any] = []
    for key, raw in zip(flat[::2], flat[1::2], strict=True):
        try:
            out.append(decode(json.loads(raw)))
        except (ValueError, KeyError, TypeError) as exc:
            log.error("skipping a kept %s %r that does not read back (%s)", what, key, exc)
    return out


__all__ = ["Handover"]
