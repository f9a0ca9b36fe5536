"""Ends a login's open websockets as soon as their access ends (disable, new password, revoked
token, sign-out, here or in another process): the socket sends nothing more from the moment the
change is heard until its own credentials are re-checked, then it closes (4401) or goes on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

log = logging.getLogger(__name__)


class Guarded(Protocol):
    """An open feed as the guard sees it (`web.ws.FeedConnection`)."""

    def hold(self) -> None: ...

    def release(self) -> None: ...


#: re-checks one socket's credentials; True while it may stay open (it closes itself otherwise)
Verify = Callable[[], Awaitable[bool]]


class FeedGuard:
    """One per application: the open feeds by login, re-checked when that login's access
    changes (one check per socket of that login; no other socket is touched)."""

    def __init__(self) -> None:
        self._feeds: dict[str, dict[Guarded, Verify]] = {}
        self._pending: dict[Guarded, int] = {}  #: checks in flight per socket
        self._checks: set[asyncio.Task[None]] = set()
        self.checks = 0  #: re-checks started by access changes
        self.ended = 0  #: sockets closed by them

    def add(self, login: str, feed: Guarded, verify: Verify) -> None:
        self._feeds.setdefault(login, {})[feed] = verify

    def discard(self, login: str, feed: Guarded) -> None:
        feeds = self._feeds.get(login)
        if feeds is not None:
            feeds.pop(feed, None)
            if not feeds:
                del self._feeds[login]

    def changed(self, login: str | None) -> None:
        """An access listener (synchronous): hold the login's sockets (every socket's, for
        None) and re-check each of them."""
        if login is None:
            chosen = [(f, v) for feeds in self._feeds.values() for f, v in feeds.items()]
        else:
            chosen = list(self._feeds.get(login, {}).items())
        for feed, verify in chosen:
            feed.hold()
            self._pending[feed] = self._pending.get(feed, 0) + 1
            task = asyncio.get_running_loop().create_task(
                self._check(feed, verify), name="ws-access-check"
            )
            self._checks.add(task)
            task.add_done_callback(self._checks.discard)
            self.checks += 1

    async def _check(self, feed: Guarded, verify: Verify) -> None:
        ok = False
        try:
            ok = await verify()
        finally:
            left = self._pending.pop(feed, 1) - 1
            if left > 0:
                self._pending[feed] = left  # a later change is being checked: it decides
            elif ok:
                feed.release()
            else:
                self.ended += 1

    async def settle(self) -> None:
        """Until the re-checks started so far are done."""
        await asyncio.gather(*self._checks, return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._checks):
            task.cancel()
        await asyncio.gather(*self._checks, return_exceptions=True)


FEED_GUARD = web.AppKey("feed_guard", FeedGuard)

__all__ = ["FEED_GUARD", "FeedGuard", "Guarded", "Verify"]
