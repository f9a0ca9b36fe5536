"""What the AMI lease's changes mean for this process: the events it reads and the epoch its
writes carry."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from cti.calls.model import Call, CallRecord
from cti.cluster.lease import AmiLease

log = logging.getLogger(__name__)


class Consumer(Protocol):
    """CallService: it writes under `epoch`, can forget the calls it tracked and carry on from
    another consumer's."""

    epoch: int | None

    def forget_calls(self) -> None: ...

    def carry_on(self, calls: Sequence[Call], unsaved: Sequence[CallRecord]) -> tuple[int, int]: ...


class Kept(Protocol):
    """Handover: what the former consumer kept in Redis."""

    async def take_over(self, epoch: int) -> tuple[list[Call], list[CallRecord]]: ...


class Link(Protocol):
    """AmiClient: a new session at once, asking for events or not."""

    def restart(self) -> None: ...


def follow(
    lease: AmiLease,
    *,
    service: Consumer,
    ami: Callable[[], Link],
    before_resync: Callable[[], Awaitable[None]] | None = None,
    handover: Kept | None = None,
) -> None:
    """On acquiring the lease: write under the new epoch and reconnect with events on (the
    resync rebuilds the live calls from Asterisk; calls tracked under another node's epoch are
    forgotten first, `before_resync` runs (the pops already on screens), then the former
    consumer's live and unsaved calls are taken from `handover`, so that the resync ends, and
    records, the calls that ended while nobody read AMI). On losing it:
    reconnect with events off at once. The epoch is kept, so a call finishing from events
    already read is written if, and only if, no newer epoch wrote."""
    service.epoch = 0  # before the first lease: only a database no leader ever wrote takes it
    pending: set[asyncio.Task[None]] = set()  # owned here: kept, errors logged, short-lived

    async def prepare_then_restart(epoch: int) -> None:
        try:  # first: the pops on screens, so that the calls carried on update them
            if before_resync is not None:
                await before_resync()
        except Exception:  # the takeover goes on: at worst an agent sees a pop twice
            log.exception("preparing the takeover failed; resynchronizing anyway")
        if handover is not None:
            try:
                calls, unsaved = await handover.take_over(epoch)
                adopted, taken = service.carry_on(calls, unsaved)
                log.warning(
                    "carrying on from the former AMI consumer: %d live calls, %d finished calls "
                    "not yet stored",
                    adopted,
                    taken,
                    extra={"event": "handover", "epoch": epoch, "calls": adopted, "records": taken},
                )
            except Exception:  # the resync alone: the calls ended meanwhile go unrecorded
                log.exception("reading the former AMI consumer's calls failed")
        ami().restart()

    def changed(epoch: int | None, continuous: bool) -> None:
        if epoch is not None:
            if not continuous:
                service.forget_calls()
            service.epoch = epoch
            if not continuous and (before_resync is not None or handover is not None):
                task = asyncio.get_running_loop().create_task(prepare_then_restart(epoch))
                pending.add(task)
                task.add_done_callback(pending.discard)
                return
        ami().restart()

    lease.on_change(changed)


__all__ = ["follow"]
