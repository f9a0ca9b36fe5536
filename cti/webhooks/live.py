"""Live webhook events (call.ringing, call.answered) from the call tracker's effects: only the
process that publishes call events enqueues them, written to the outbox by a task it owns."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.calls.machine import Answered, Effect, Ringing
from cti.db.session import writing
from cti.webhooks import model
from cti.webhooks.model import Event, EventType
from cti.webhooks.service import WebhookService

log = logging.getLogger(__name__)

#: live events waiting to be written at most; past it they are dropped (and counted)
QUEUE_MAX = 10_000


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LiveEvents:
    """An effect listener (`CallService(on_effect=...)`) that must never block the tracker: it
    queues, and `run` writes the queue to the outbox in small transactions.

    Not transactional with anything (live calls are not stored until they end): a crash in the
    few milliseconds between the effect and the write loses that ringing or answered event;
    call.ended, call.missed and callback.resolved are written with the call itself."""

    def __init__(
        self,
        *,
        service: WebhookService,
        sessions: async_sessionmaker[AsyncSession],
        snapshot: Callable[[str], Mapping[str, Any] | None],
        publishing: Callable[[], bool] = lambda: True,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._service = service
        self._sessions = sessions
        self._snapshot = snapshot
        self._publishing = publishing
        self._clock = clock
        self._queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_MAX)
        self._pending: dict[str, Event] = {}  #: queued or being written, by event id
        service.pending_live = self.pending
        self.dropped = 0
        self.written = 0

    def on_effect(self, effect: Effect) -> None:
        if not isinstance(effect, Ringing | Answered) or not self._publishing():
            return
        call = self._snapshot(effect.linkedid) or {}
        if isinstance(effect, Ringing):
            event = model.call_live(
                EventType.CALL_RINGING,
                linkedid=effect.linkedid,
                agent=effect.agent,
                call=call,
                at=self._clock(),
                key=f"{effect.agent}:{effect.dest_uniqueid}",
            )
        else:
            event = model.call_live(
                EventType.CALL_ANSWERED,
                linkedid=effect.linkedid,
                agent=effect.agent,
                call=call,
                at=self._clock(),
                key=effect.agent,
            )
        try:
            self._queue.put_nowait(event)
            self._pending[event.id] = event
        except asyncio.QueueFull:
            self.dropped += 1
            log.error(
                "webhook queue full (%d): %s of %s dropped", QUEUE_MAX, event.type, effect.linkedid
            )

    async def run(self) -> None:
        """Write queued live events to the outbox, in order, until cancelled."""
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 500:
                batch.append(self._queue.get_nowait())
            delay = 0.5
            while True:
                try:
                    await self.write(batch)
                    break
                except Exception as exc:  # the database is down: hold the batch, retry
                    log.error(
                        "could not write %d live webhook events (%s); retrying", len(batch), exc
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)

    async def write(self, batch: list[Event]) -> None:
        async with writing(self._sessions) as session:
            await self._service.enqueue_now(session, batch)
        self.written += len(batch)
        for event in batch:
            self._pending.pop(event.id, None)

    def pending(self, linkedids: Collection[str]) -> list[Event]:
        """Live events of these calls not written yet: the call's own transaction writes them
        first (`WebhookService.record_calls`), so a slow write never lets call.ended overtake
        call.ringing. Written twice is harmless: the event id is unique."""
        wanted = {model.call_key(linkedid) for linkedid in linkedids}
        return [event for event in self._pending.values() if event.key in wanted]

    async def drain(self, timeout: float = 2.0) -> None:
        """At shutdown: write what is queued (best effort)."""
        batch: list[Event] = []
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if batch:
            try:
                await asyncio.wait_for(self.write(batch), timeout)
            except Exception as exc:
                log.error("%d live webhook events not written at shutdown: %s", len(batch), exc)


__all__ = ["LiveEvents"]
