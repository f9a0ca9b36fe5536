"""What the AMI lease's changes mean for this process: the events it reads and the epoch its
writes carry."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from cti.cluster.lease import AmiLease

log = logging.getLogger(__name__)


class Consumer(Protocol):
    """CallService: it writes under `epoch` and can forget the calls it tracked."""

    epoch: int | None

    def forget_calls(self) -> None: ...


class Link(Protocol):
    """AmiClient: a new session at once, asking for events or not."""

    def restart(self) -> None: ...


def follow(
    lease: AmiLease,
    *,
    service: Consumer,
    ami: Callable[[], Link],
    before_resync: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """On acquiring the lease: write under the new epoch and reconnect with events on (the
    resync rebuilds the live calls from Asterisk; calls tracked under another node's epoch are
    forgotten first, and `before_resync` runs: the pops already on screens). On losing it:
    reconnect with events off at once. The epoch is kept, so a call finishing from events
    already read is written if, and only if, no newer epoch wrote."""
    service.epoch = 0  # before the first lease: only a database no leader ever wrote takes it
    pending: set[asyncio.Task[None]] = set()  # owned here: kept, errors logged, short-lived

    async def prepare_then_restart() -> None:
        try:
            if before_resync is not None:
                await before_resync()
        except Exception:  # the takeover goes on: at worst an agent sees a pop twice
            log.exception("preparing the takeover failed; resynchronizing anyway")
        ami().restart()

    def changed(epoch: int | None, continuous: bool) -> None:
        if epoch is not None:
            if not continuous:
                service.forget_calls()
            service.epoch = epoch
            if not continuous and before_resync is not None:
                task = asyncio.get_running_loop().create_task(prepare_then_restart())
                pending.add(task)
                task.add_done_callback(pending.discard)
                return
        ami().restart()

    lease.on_change(changed)


__all__ = ["follow"]
