"""The /ws feed: screen-pops, live calls and the agent's own messages, numbered per login.

The handshake authenticates (session cookie or `Authorization: Bearer`), checks the Origin,
and may carry `?since=SEQ&stream=ID` to resume: the client then gets a `resume` header and every
message it missed, in order; otherwise (or when too far behind) a `snapshot`. What a socket
receives is decided from its authenticated principal only (`cti.auth.policy`, via the hub).

Each socket has its own bounded send queue: a client that cannot keep up is closed with 1013
(and resumes on reconnect) instead of holding up anyone else. Pings every `heartbeat` seconds
drop dead peers. The credentials are re-checked at once when the login's access changes
(`web.feed_access`), at the session's expiry, and every `recheck_every` seconds (4401 when gone).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import WSCloseCode, WSMsgType, web

from cti.auth.principal import Principal, Via
from cti.auth.throttle import TokenBucket
from cti.bus import Subscription
from cti.pops.hub import FeedHub
from web.auth import AUTH, PRINCIPAL, identify, origin_allowed, session_ends_at
from web.errors import Problem
from web.feed_access import FEED_GUARD

log = logging.getLogger(__name__)


class LiveBus(Protocol):
    """What the feed needs of a bus: a synchronous listener of every message published."""

    def listen(self, callback: Callable[[dict[str, Any]], None]) -> Callable[[], None]: ...

    def subscribe(self) -> AbstractAsyncContextManager[Subscription]: ...


@dataclass(frozen=True, kw_only=True)
class WsLimits:
    """Per-connection limits of the feed."""

    heartbeat: float = 20.0  #: seconds between pings; a missing pong drops the client
    max_inbound_bytes: int = 4096  #: the pages send nothing much; larger frames close with 1009
    max_inbound_rate: float = 5.0  #: client messages per second on average; more close with 1008
    max_inbound_burst: float = 20.0  #: ...allowing bursts of this many
    max_per_login: int = 20  #: open sockets per principal; more are refused with 429
    recheck_every: float = 30.0  #: seconds between checks that the session or token still holds
    send_timeout: float = 10.0  #: a client that cannot take one message for this long is dropped
    close_timeout: float = 2.0  #: wait this long for a close handshake, then cut the connection
    queue_size: int = 256  #: messages waiting for one client; more and it is closed (1013)
    gap_timeout: float = 0.5  #: a missing number not filled in this long is read from the journal


#: close codes a client can act on (1008/1009/1013 are RFC 6455's; 4401 is ours)
CLOSE_TOO_MANY_MESSAGES = WSCloseCode.POLICY_VIOLATION
CLOSE_SIGNED_OUT = 4401  #: the session ended (logout, expiry, disabled user, revoked token)
CLOSE_FELL_BEHIND = WSCloseCode.TRY_AGAIN_LATER  #: reconnect with ?since= to resume

BUS = web.AppKey("bus", LiveBus)
HUB = web.AppKey("feed_hub", FeedHub)
WS_LIMITS = web.AppKey("ws_limits", WsLimits)

_STREAM = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SEQ = re.compile(r"[0-9]{1,15}")


class FeedConnection:
    """One socket of a login: the hub offers it numbered messages; it sends them in order."""

    def __init__(
        self,
        *,
        ws: web.WebSocketResponse,
        request: web.Request,
        limits: WsLimits,
        principal: Principal,
    ) -> None:
        self.ws = ws
        self._request = request
        self._limits = limits
        self.principal = principal
        self._queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue(limits.queue_size)
        self.overflowed = False
        self.sent = 0
        self._closing: asyncio.Task[None] | None = None
        self._released = asyncio.Event()  #: cleared while the credentials are being re-checked
        self._released.set()

    def offer(self, seq: int, text: str) -> None:
        """From the hub, never waits: a full queue closes this socket (it resumes on reconnect)."""
        if self.overflowed or self._closing is not None:
            return
        try:
            self._queue.put_nowait((seq, text))
        except asyncio.QueueFull:
            self.overflowed = True
            log.warning(
                "websocket client %s fell %d messages behind; closing it",
                self.peer,
                self._limits.queue_size,
            )
            self.close(CLOSE_FELL_BEHIND, "fell behind: reconnect to resume")

    def hold(self) -> None:
        """Send nothing more until `release()`: the login's access changed, and until this
        socket's credentials are re-checked it may no longer be entitled to anything."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def start_over(self) -> None:
        """The hub's numbering began again: the client reconnects and takes a fresh snapshot."""
        self.close(CLOSE_FELL_BEHIND, "the feed started again: reconnect for a fresh snapshot")

    async def forward(self, first: list[str], last: int, hub: FeedHub) -> None:
        """Send the opening messages, then every later one in `seq` order, once each."""
        try:
            for text in first:
                await self._send(text)
            await self._pump(last, hub)
        except TimeoutError:
            # it cannot take a message, so it cannot take a close frame either
            log.warning("websocket client %s stopped receiving; dropping it", self.peer)
            self._abort()
        except ConnectionError:
            return  # the client went away; the read loop sees that too

    async def _pump(self, last: int, hub: FeedHub) -> None:
        held: dict[int, str] = {}
        deadline: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    seq, text = await self._queue.get()
            except TimeoutError:
                # a number never arrived (another process's message overtaken by a later
                # one): fetch the gap from the journal
                missed = await hub.missed(self.principal.login, last)
                if missed is None:
                    self.close(CLOSE_FELL_BEHIND, "lost position: reconnect to resume")
                    return
                for seq, text in missed:
                    held.setdefault(seq, text)
                if last + 1 not in held:  # not in the journal either: go on from what we have
                    last = min(held) - 1
            else:
                if seq <= last:
                    continue  # already sent (replayed, or delivered twice)
                held[seq] = text
            while last + 1 in held:
                last += 1
                await self._send(held.pop(last))
            held = {s: t for s, t in held.items() if s > last}
            deadline = loop.time() + self._limits.gap_timeout if held else None
            if deadline is not None and len(held) > self._limits.queue_size:
                self.close(CLOSE_FELL_BEHIND, "fell behind: reconnect to resume")
                return

    def close(self, code: int, reason: str) -> asyncio.Task[None]:
        """Start closing (once); a task of its own, so cancelling the forwarder cannot cut it."""
        if self._closing is None:
            self._closing = asyncio.create_task(self._close(code, reason), name="ws-close")
        return self._closing

    async def wait_closed(self) -> None:
        if self._closing is not None:
            await asyncio.shield(self._closing)

    async def _send(self, text: str) -> None:
        await self._released.wait()
        if self._closing is not None:
            raise ConnectionError("closing")  # nothing goes out after the close began
        async with asyncio.timeout(self._limits.send_timeout):
            await self.ws.send_str(text)
        self.sent += 1

    async def _close(self, code: int, reason: str) -> None:
        try:
            async with asyncio.timeout(self._limits.close_timeout):
                await self.ws.close(code=code, message=reason.encode("utf-8"))
        except (TimeoutError, ConnectionError):
            pass  # the transport is dealt with below
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                self._abort()
                raise
            # not ours: aiohttp shares one drain future per connection, and a send cancelled
            # by its timeout cancels that future for every later writer too
        # a peer that stopped reading leaves data unsent, and a graceful transport close
        # waits for it forever
        transport = self._request.transport
        if transport is not None and transport.get_write_buffer_size() > 0:
            self._abort()

    def _abort(self) -> None:
        transport = self._request.transport
        if transport is not None:
            transport.abort()

    @property
    def peer(self) -> str:
        return str(self._request.remote)

    @property
    def recheck_every(self) -> float:
        return self._limits.recheck_every


WS_CONNECTIONS = web.AppKey("ws_connections", set[FeedConnection])


def check_origin(request: web.Request, principal: Principal) -> None:
    """Browsers must come from a page of this site or an allowed origin (no cross-site
    websocket hijacking with the cookie); clients without an Origin must use a Bearer token."""
    verdict = origin_allowed(request)
    if verdict is False:
        raise Problem(status=403, detail="WebSocket Origin is not this site or an allowed origin.")
    if verdict is None and principal.via is Via.SESSION:
        raise Problem(
            status=403,
            detail="A WebSocket without an Origin header must authenticate with a Bearer token.",
        )


def resume_position(request: web.Request) -> tuple[int | None, str | None]:
    """`?since=SEQ&stream=ID`: where a reconnecting client left off (both or neither)."""
    since, stream = request.query.get("since"), request.query.get("stream")
    if since is None and stream is None:
        return None, None
    if (
        since is None
        or stream is None
        or not _SEQ.fullmatch(since)
        or not _STREAM.fullmatch(stream)
    ):
        raise Problem(
            status=400,
            detail="Resume with both since (the last seq received) and stream (from the snapshot).",
        )
    return int(since), stream


async def websocket(request: web.Request) -> web.StreamResponse:
    """GET /ws: a snapshot (or a resume and what was missed), then every message, numbered."""
    principal = request[PRINCIPAL]
    check_origin(request, principal)
    limits = request.app[WS_LIMITS]
    hub = request.app[HUB]
    connections = request.app[WS_CONNECTIONS]
    if hub.connected(principal.login) >= limits.max_per_login:
        raise Problem(
            status=429,
            detail=f"At most {limits.max_per_login} live feeds per user; close another tab first.",
        )
    since, stream = resume_position(request)
    ws = web.WebSocketResponse(
        heartbeat=limits.heartbeat,
        max_msg_size=limits.max_inbound_bytes,
        timeout=limits.close_timeout,
    )
    if not ws.can_prepare(request).ok:
        raise Problem(status=400, detail="This address speaks WebSocket only.")
    conn = FeedConnection(ws=ws, request=request, limits=limits, principal=principal)
    hub.attach(conn)  # from here on every message for this login queues up on `conn`
    tasks: list[asyncio.Task[None]] = []
    try:
        first, last = await hub.opening(principal, since=since, stream=stream)
        await ws.prepare(request)
        connections.add(conn)
        request.app[FEED_GUARD].add(principal.login, conn, lambda: verify(request, conn, hub))
        tasks.append(asyncio.create_task(conn.forward(first, last, hub), name="ws-forward"))
        tasks.append(asyncio.create_task(_recheck(request, conn, hub), name="ws-recheck"))
        bucket = TokenBucket(
            rate=limits.max_inbound_rate,
            burst=limits.max_inbound_burst,
            clock=asyncio.get_running_loop().time,
        )
        async for msg in ws:
            if msg.type is WSMsgType.ERROR:
                break
            # the pages send nothing we act on; reading keeps pings and closes flowing
            if not bucket.take():
                log.warning("websocket client %s sent too many messages; closing", conn.peer)
                conn.close(CLOSE_TOO_MANY_MESSAGES, "too many messages")
                break
    finally:
        hub.detach(conn)
        connections.discard(conn)
        request.app[FEED_GUARD].discard(principal.login, conn)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await conn.wait_closed()
    return ws


async def _recheck(request: web.Request, conn: FeedConnection, hub: FeedHub) -> None:
    """Close the feed when its session reaches its expiry (a timer), and re-check it every
    `recheck_every` seconds as a backstop; access changes (disable, sign-out, a revoked
    token...) re-check it at once through the FeedGuard."""
    auth = request.app[AUTH]
    ends = session_ends_at(request)  # known from the handshake; it never moves later
    while True:
        # spread over 0.5x..1.5x: a thousand consoles that connected together (a restart, a
        # shift starting) must not all ask the database at the same instant every interval
        wait = conn.recheck_every * (0.5 + random.random())
        ends = session_ends_at(request) or ends
        if ends is not None:
            wait = min(wait, max(0.0, ends - auth.now()))
        await asyncio.sleep(wait)
        if not await verify(request, conn, hub):
            return


async def verify(request: web.Request, conn: FeedConnection, hub: FeedHub) -> bool:
    """Re-check the socket's credentials: closed with 4401 when they no longer hold (False);
    a changed role or phone applies from now on."""
    try:
        principal = await identify(request)
    except Exception:
        log.exception("could not re-check a websocket's session; keeping it for now")
        return True
    if principal is None:
        conn.close(CLOSE_SIGNED_OUT, "signed out: sign in again")
        return False
    if principal != conn.principal:
        hub.refresh_principal(conn, principal)
    return True


async def close_all(app: web.Application) -> None:
    """on_shutdown: tell every client the server is going away, so it reconnects elsewhere."""
    connections: set[FeedConnection] = app[WS_CONNECTIONS]
    await app[FEED_GUARD].close()
    closing = [
        conn.close(WSCloseCode.GOING_AWAY, "server shutting down") for conn in list(connections)
    ]
    await asyncio.gather(*closing, return_exceptions=True)
