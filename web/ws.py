"""The /ws feed: a snapshot of live calls, then every call event, numbered per connection."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import WSCloseCode, WSMsgType, web

from cti.bus import Subscription
from cti.calls.model import iso
from web.api import LIVE_CALLS
from web.auth import AUTH_METHOD, same_origin
from web.errors import Problem

log = logging.getLogger(__name__)

#: bus message types a board receives; other traffic on the bus is not for browsers
FORWARDED_PREFIX = "call."


class LiveBus(Protocol):
    """What the feed needs of a bus: one bounded, drop-when-behind subscription per client."""

    def subscribe(self) -> AbstractAsyncContextManager[Subscription]: ...


@dataclass(frozen=True, kw_only=True)
class WsLimits:
    """Per-connection limits of the feed."""

    heartbeat: float = 20.0  #: seconds between pings; a missing pong drops the client
    max_inbound_bytes: int = 4096  #: the board sends nothing much; larger frames close the socket
    send_timeout: float = 10.0  #: a client that cannot take one message for this long is dropped
    close_timeout: float = 2.0  #: wait this long for a close handshake, then cut the connection


BUS = web.AppKey("bus", LiveBus)
WS_LIMITS = web.AppKey("ws_limits", WsLimits)


class FeedConnection:
    """One browser's feed: forwards its subscription, closes it when the client falls behind."""

    def __init__(
        self, *, ws: web.WebSocketResponse, request: web.Request, limits: WsLimits
    ) -> None:
        self.ws = ws
        self._request = request
        self._limits = limits
        self._closing: asyncio.Task[None] | None = None

    async def forward(self, sub: Subscription, snapshot: dict[str, Any]) -> None:
        seq = 0
        try:
            await self._send(snapshot)
            async for message in sub:
                if not str(message.get("type", "")).startswith(FORWARDED_PREFIX):
                    continue
                seq += 1
                await self._send({**message, "seq": seq})
        except TimeoutError:
            # it cannot take a message, so it cannot take a close frame either
            log.warning("websocket client %s stopped receiving; dropping it", self._peer)
            self._abort()
            return
        except ConnectionError:
            return  # the client went away; the read loop sees that too
        if sub.overflowed:
            log.warning("websocket client %s fell behind the bus; closing", self._peer)
            self.close(WSCloseCode.TRY_AGAIN_LATER, "fell behind: reconnect for a fresh snapshot")
        else:
            self.close(WSCloseCode.GOING_AWAY, "feed ended")

    def close(self, code: int, reason: str) -> asyncio.Task[None]:
        """Start closing (once); a task of its own, so cancelling the forwarder cannot cut it."""
        if self._closing is None:
            self._closing = asyncio.create_task(self._close(code, reason), name="ws-close")
        return self._closing

    async def wait_closed(self) -> None:
        if self._closing is not None:
            await asyncio.shield(self._closing)

    async def _send(self, payload: dict[str, Any]) -> None:
        async with asyncio.timeout(self._limits.send_timeout):
            await self.ws.send_json(payload)

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
    def _peer(self) -> str:
        return str(self._request.remote)


WS_CONNECTIONS = web.AppKey("ws_connections", set[FeedConnection])


def check_origin(request: web.Request) -> None:
    """Browsers must come from a page of this site; other clients must use a Bearer token."""
    verdict = same_origin(request)
    if verdict is False:
        raise Problem(status=403, detail="WebSocket Origin does not match this site.")
    if verdict is None and request.get(AUTH_METHOD) != "bearer":
        raise Problem(
            status=403,
            detail="A WebSocket without an Origin header must authenticate with a Bearer token.",
        )


async def websocket(request: web.Request) -> web.StreamResponse:
    """GET /ws: snapshot first, then call.live / call.ended messages with a per-connection seq."""
    check_origin(request)
    limits = request.app[WS_LIMITS]
    ws = web.WebSocketResponse(
        heartbeat=limits.heartbeat,
        max_msg_size=limits.max_inbound_bytes,
        timeout=limits.close_timeout,
    )
    if not ws.can_prepare(request).ok:
        raise Problem(status=400, detail="This address speaks WebSocket only.")
    async with request.app[BUS].subscribe() as sub:
        # taken with no await after subscribing: every later change arrives on `sub`
        snapshot = {
            "type": "snapshot",
            "seq": 0,
            "server_time": iso(time.time()),
            "calls": request.app[LIVE_CALLS](),
        }
        await ws.prepare(request)
        conn = FeedConnection(ws=ws, request=request, limits=limits)
        connections = request.app[WS_CONNECTIONS]
        connections.add(conn)
        forwarder = asyncio.create_task(conn.forward(sub, snapshot), name="ws-forward")
        try:
            async for msg in ws:
                if msg.type is WSMsgType.ERROR:
                    break
                # the board sends nothing we act on; reading keeps pings and closes flowing
        finally:
            connections.discard(conn)
            forwarder.cancel()
            await asyncio.gather(forwarder, return_exceptions=True)
            await conn.wait_closed()
    return ws


async def close_all(app: web.Application) -> None:
    """on_shutdown: tell every board the server is going away, so it reconnects elsewhere."""
    closing = [
        conn.close(WSCloseCode.GOING_AWAY, "server shutting down")
        for conn in list(app[WS_CONNECTIONS])
    ]
    await asyncio.gather(*closing, return_exceptions=True)
