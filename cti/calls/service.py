"""Carries out the tracker's effects: one ordered consumer of events, the store, the live bus."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, Protocol

from cti.ami.events import AmiEvent
from cti.calls import machine
from cti.calls.machine import Effect, Finished
from cti.calls.model import Call, CallRecord, Direction, OfferStatus, iso
from cti.calls.outcome import final_direction
from cti.calls.tracker import CallTracker
from cti.cluster.fence import StaleEpoch

log = logging.getLogger(__name__)


class CallStore(Protocol):
    async def save_many(
        self, records: Sequence[CallRecord], *, epoch: int | None = None
    ) -> int: ...


class Publisher(Protocol):
    def publish(self, message: dict[str, Any]) -> None: ...


class Keeper(Protocol):
    """Keeps, outside this process, what the next AMI consumer carries on from: the live
    calls as they change and the finished calls until the database has them
    (`cti.cluster.handover.Handover`)."""

    def live(self, call: Call) -> None: ...

    def finished(self, record: CallRecord) -> None: ...

    def stored(self, records: Sequence[CallRecord]) -> None: ...


CustomerLookup = Callable[[str], Awaitable[dict[str, Any] | None]]


class CallService:
    """Owns the event queue, the tracker and the writer; nothing else touches them."""

    def __init__(
        self,
        *,
        tracker: CallTracker,
        store: CallStore | None,
        bus: Publisher | None,
        customer_lookup: CustomerLookup | None = None,
        on_effect: Callable[[Effect], None] | None = None,
        annotate: Callable[[CallRecord], CallRecord] | None = None,
        buffer_limit: int = 100_000,
        batch_size: int = 500,
        clock: Callable[[], float] = time.time,
        keeper: Keeper | None = None,
    ) -> None:
        self.tracker = tracker
        self.keeper = keeper
        self._store = store
        self._bus = bus
        self._lookup = customer_lookup
        self._on_effect = on_effect  #: a listener told of every effect (routing counts offers)
        self._annotate = annotate  #: adds what others know to a finished call (its routing)
        self._events: asyncio.Queue[tuple[AmiEvent, float]] = asyncio.Queue()
        #: finished calls waiting for the database, each with the lease epoch it was made under
        self._pending: deque[tuple[int | None, CallRecord]] = deque()
        self._buffer_limit = buffer_limit
        self._batch = batch_size
        self._clock = clock
        self._wake = asyncio.Event()
        #: per live call: the number looked up (caller in, number dialled out) and its customer
        self._customers: dict[str, tuple[str, dict[str, Any] | None]] = {}
        self.dropped_records = 0
        #: when the event being handled reached this process (time.monotonic; None: replayed)
        self.arrived: float | None = None
        self.fenced_records = 0  #: refused by the database: a newer AMI consumer had written
        #: the AMI lease's fencing epoch the calls finishing now are written under (None: one
        #: process, unfenced); set by the lease's holder
        self.epoch: int | None = None
        self.stored = 0
        self.store_errors = 0
        self.finished = 0

    # --- input: a plain callback that only enqueues (panoramisk-style callbacks never await) --

    def submit(self, event: AmiEvent) -> None:
        self._events.put_nowait((event, time.monotonic()))

    @property
    def backlog(self) -> int:
        return self._events.qsize()

    @property
    def unsaved(self) -> int:
        return len(self._pending)

    @property
    def buffer_limit(self) -> int:
        return self._buffer_limit

    def forget_calls(self) -> None:
        """Start over with no live call (this process takes over AMI after another: what it
        tracked before is stale; the resync that follows rebuilds what is live)."""
        stats = self.tracker.stats  # counters keep counting (Prometheus sees no reset)
        self.tracker = CallTracker(rules=self.tracker.rules)
        self.tracker.stats = stats
        self._customers.clear()
        while not self._events.empty():
            self._events.get_nowait()

    def carry_on(self, calls: Sequence[Call], unsaved: Sequence[CallRecord]) -> tuple[int, int]:
        """After `forget_calls` on a takeover: the former consumer's live calls (the resync
        that follows ends those gone meanwhile) and its finished calls the database did not
        have yet, written under this process's epoch (a record is an upsert: one the former
        consumer did store is written again, not doubled). Returns (calls, records) taken."""
        adopted = self.tracker.adopt(calls)
        changed: set[str] = set()
        for call in adopted:  # the pops and routing here learn of them as of now
            for effect in machine.recall(call):
                self._carry_out(effect, changed)
            self._publish_live(call)
        waiting = {record.linkedid for _, record in self._pending}
        taken = 0
        for record in unsaved:
            if record.linkedid in waiting or record.linkedid in self.tracker.calls:
                continue
            self._pending.append((self.epoch, record))
            taken += 1
        if taken:
            self._wake.set()
        return len(adopted), taken

    # --- tasks owned by the application ----------------------------------------------------

    async def consume(self, turn: int = 64) -> None:
        """The one ordered consumer of AMI events. It lets the loop run other work every `turn`
        events: `Queue.get` does not yield while events are queued, and a burst (20,000 calls
        listed by a resync) held the loop for seconds (health probes, keepalive, the lease)."""
        while True:
            for _ in range(turn):
                event, self.arrived = await self._events.get()
                self.handle(event)
            await asyncio.sleep(0)

    def handle(self, event: AmiEvent) -> None:
        changed: set[str] = set()
        for effect in self.tracker.handle(event):
            self._carry_out(effect, changed)
        for linkedid in changed:
            call = self.tracker.calls.get(linkedid)
            if call is not None:
                self._publish_live(call)
        if self.keeper is not None:
            # every change, effect or not (a new leg, a bridge): the keeper skips calls it has
            changed.add(getattr(event, "linkedid", "") or "")
            for linkedid in changed:
                call = self.tracker.calls.get(linkedid)
                if call is not None:
                    self.keeper.live(call)

    async def drain(self) -> None:
        """Process everything queued so far (tests, shutdown)."""
        while not self._events.empty():
            event, self.arrived = self._events.get_nowait()
            self.handle(event)

    async def sweep_forever(
        self,
        every: float = 60.0,
        max_idle: float = 6 * 3600,
        phantom_max_idle: float | None = 600.0,
    ) -> None:
        while True:
            await asyncio.sleep(every)
            for effect in self.tracker.sweep(self._clock(), max_idle, phantom_max_idle):
                self._carry_out(effect, set())

    async def write_forever(self) -> None:
        """Persist finished calls in batches; keep them while the database is down."""
        delay = 0.5
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            epoch = self._pending[0][0]
            batch: list[CallRecord] = []
            for made_under, record in self._pending:  # one epoch per transaction
                if made_under != epoch or len(batch) >= self._batch:
                    break
                batch.append(record)
            try:
                assert self._store is not None
                await self._store.save_many(batch, epoch=epoch)
            except StaleEpoch:
                self._fenced(batch, epoch)
                continue
            except Exception as exc:  # the database is down or refused: keep the calls
                self.store_errors += 1
                log.error(
                    "could not store %d finished calls (%s: %s); %d waiting, retrying in %.1f s",
                    len(batch),
                    exc.__class__.__name__,
                    exc,
                    len(self._pending),
                    delay,
                    extra={"event": "database_error", "waiting": len(self._pending)},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            if delay > 0.5:
                log.warning(
                    "the database accepts finished calls again; %d still waiting",
                    len(self._pending) - len(batch),
                    extra={"event": "database_back", "waiting": len(self._pending) - len(batch)},
                )
            delay = 0.5
            for _ in batch:
                self._pending.popleft()
            self.stored += len(batch)
            if self.keeper is not None:
                self.keeper.stored(batch)

    def _fenced(self, batch: list[CallRecord], epoch: int | None) -> None:
        for _ in batch:
            self._pending.popleft()
        self.fenced_records += len(batch)
        log.warning(
            "%d finished calls of AMI lease epoch %s refused: a newer consumer has written "
            "(it resynchronized from Asterisk and records these calls itself)",
            len(batch),
            epoch,
            extra={"event": "writes_fenced", "epoch": epoch, "calls": len(batch)},
        )

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every finished call so far is stored."""
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:
            self._wake.set()
            await asyncio.sleep(0.02)

    # --- effects -------------------------------------------------------------------------------

    def _carry_out(self, effect: Effect, changed: set[str]) -> None:
        if self._on_effect is not None:
            try:
                self._on_effect(effect)
            except Exception:  # a listener's bug must not stop call tracking
                log.exception("effect listener failed for %s", type(effect).__name__)
        if isinstance(effect, Finished):
            self._finished(effect.record)
            changed.discard(effect.record.linkedid)
        else:
            changed.add(effect.linkedid)

    def _finished(self, record: CallRecord) -> None:
        self.finished += 1
        looked_up = self._customers.pop(record.linkedid, None)
        if looked_up is not None and looked_up[1] is not None:
            record = dataclasses.replace(record, customer_id=looked_up[1].get("customer_id"))
        if self._annotate is not None:
            try:
                record = self._annotate(record)
            except Exception:
                log.exception("annotating finished call %s failed; stored as is", record.linkedid)
        if self.keeper is not None:  # kept until stored, by this process or the next consumer
            self.keeper.finished(record)
        if self._store is not None:
            if len(self._pending) >= self._buffer_limit:
                self.dropped_records += 1
                log.critical(
                    "call buffer full (%d calls waiting for the database): dropping call %s. "
                    "Bring the database back or raise the limit.",
                    self._buffer_limit,
                    record.linkedid,
                    extra={
                        "event": "call_buffer_full",
                        "buffer_limit": self._buffer_limit,
                        "dropped_total": self.dropped_records,
                        "linkedid": record.linkedid,
                    },
                )
            else:
                self._pending.append((self.epoch, record))
                self._wake.set()
        if self._bus is not None:
            self._bus.publish({"type": "call.ended", "call": record.to_json()})

    def _publish_live(self, call: Call) -> None:
        if self._bus is None:
            return
        self._bus.publish({"type": "call.live", "call": self.snapshot(call)})
        number = _customer_number(call)
        if self._lookup is not None and number:
            looked_up = self._customers.get(call.linkedid)
            if looked_up is None or looked_up[0] != number:
                self._customers[call.linkedid] = (number, None)
                asyncio.get_running_loop().create_task(self._find_customer(call.linkedid, number))

    async def _find_customer(self, linkedid: str, number: str) -> None:
        """At ring time: whose call this is (the board shows them, the record keeps their id)."""
        try:
            assert self._lookup is not None
            customer = await self._lookup(number)
        except Exception:
            log.exception("customer lookup failed for a caller")
            return
        call = self.tracker.calls.get(linkedid)
        if call is None or self._customers.get(linkedid, ("",))[0] != number:
            return  # finished meanwhile, or a newer number is being looked up
        self._customers[linkedid] = (number, customer)
        # calls that vanished without finishing: pruned when they could be half the entries, so
        # the scan is amortized O(1) per lookup however many calls are live (10,000+ with a
        # scan per lookup stalled the loop)
        if len(self._customers) > max(10_000, 2 * len(self.tracker.calls)):
            for gone in [k for k in self._customers if k not in self.tracker.calls]:
                del self._customers[gone]
        if customer:
            self._publish_live(call)

    def live_calls(self) -> list[dict[str, Any]]:
        return [self.snapshot(call) for call in self.tracker.calls.values()]

    def each_live_call(self) -> Iterator[dict[str, Any]]:
        """The live calls one at a time, each as it is when taken: a reader may pause between
        them (the mirror's pages); a call that ended meanwhile is left out."""
        for linkedid in list(self.tracker.calls):
            call = self.tracker.calls.get(linkedid)
            if call is not None:
                yield self.snapshot(call)

    def snapshot(self, call: Call) -> dict[str, Any]:
        ringing = [o.target for o in call.offers if o.status is OfferStatus.RINGING]
        if call.hold_started_at is not None:
            state = "on_hold"
        elif call.answered_at is not None:
            state = "talking"
        elif ringing or (call.direction is Direction.OUTBOUND and len(call.legs) > 1):
            state = "ringing"  # an agent's phone, or the far end of an outbound call
        elif call.in_queue:
            state = "queued"
        else:
            state = "dialplan"
        return {
            "linkedid": call.linkedid,
            "direction": final_direction(call, self.tracker.rules).value,
            "caller": call.caller,
            "caller_name": call.caller_name,
            "did": call.did,
            "state": state,
            "agents_ringing": ringing,
            "answered_by": list(call.answered_by),
            "started_at": iso(call.started_at),
            "answered_at": iso(call.answered_at) if call.answered_at is not None else None,
            "customer": self._customers.get(call.linkedid, ("", None))[1],
        }


def _customer_number(call: Call) -> str:
    """The customer's side of a call: the caller of an inbound call, the number an outbound
    call dialled; internal calls have none."""
    if call.direction is Direction.INBOUND:
        return call.caller
    if call.direction is Direction.OUTBOUND:
        return call.did
    return ""
