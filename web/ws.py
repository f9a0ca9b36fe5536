"""The /ws feed: a snapshot of live calls, then every call event, numbered per connection.

What a socket receives is decided from its authenticated principal only (`cti.auth.policy`):
an agent gets the calls they are part of, supervisors and administrators everything."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import WSCloseCode, WSMsgType, web

from cti.auth import policy
from cti.auth.principal import Principal, Via
from cti.auth.throttle import TokenBucket
from cti.bus import Subscription
from cti.calls.model import iso
from web.api import LIVE_CALLS
from web.auth import PRINCIPAL, identify, origin_allowed
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
    max_inbound_bytes: int = 4096  #: the board sends nothing much; larger frames close with 1009
    max_inbound_rate: float = 5.0  #: client messages per second on average; more close with 1008
    max_inbound_burst: float = 20.0  #: ...allowing bursts of this many
    max_per_login: int = 20  #: open sockets per principal; more are refused with 429
    recheck_every: float = 30.0  #: seconds between checks that the session or token still holds
    send_timeout: float = 10.0  #: a client that cannot take one message for this long is dropped
    close_timeout: float = 2.0  #: wait this long for a close handshake, then cut the connection


#: close codes a client can act on (1008/1009 are RFC 6455's; 4401 is ours)
CLOSE_TOO_MANY_MESSAGES = WSCloseCode.POLICY_VIOLATION
CLOSE_SIGNED_OUT = 4401  #: the session ended (logout, expiry, disabled user, revoked token)


BUS = web.AppKey("bus", LiveBus)
WS_LIMITS = web.AppKey("ws_limits", WsLimits)


class FeedConnection:
    """One browser's feed: forwards its subscription, closes it when the client falls behind."""

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
        self._closing: asyncio.Task[None] | None = None
        #: calls this socket was shown: it follows them to the end even once its phone stops ringing
        self._shown: set[str] = set()

    def visible(self, message: dict[str, Any]) -> bool:
        """Whether this socket's principal may receive `message` (and keeps following a call)."""
        call = message.get("call")
        linkedid = call.get("linkedid") if isinstance(call, dict) else None
        allowed = policy.may_receive(self.principal, message) or (
            isinstance(linkedid, str) and linkedid in self._shown
        )
        if (
            allowed
            and isinstance(linkedid, str)
            and str(message.get("type", "")).startswith("call.")
        ):
            if message.get("type") == "call.ended":
                self._shown.discard(linkedid)
            elif len(self._shown) < 10_000:
                self._shown.add(linkedid)
        return allowed

    def snapshot_calls(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [c for c in calls if self.visible({"type": "call.live", "call": c})]

    async def forward(self, sub: Subscription, snapshot: dict[str, Any]) -> None:
        seq = 0
        try:
            await self._send(snapshot)
            async for message in sub:
                if not str(message.get("type", "")).startswith(FORWARDED_PREFIX):
                    continue
                if not self.visible(message):
                    continue
                seq += 1
                await self._send({**message, "seq": seq})
        except TimeoutError:
            # it cannot take a message, so it cannot take a close frame either
            log.warning("websocket client %s stopped receiving; dropping it", self.peer)
            self._abort()
            return
        except ConnectionError:
            return  # the client went away; the read loop sees that too
        if sub.overflowed:
            log.warning("websocket client %s fell behind the bus; closing", self.peer)
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


async def websocket(request: web.Request) -> web.StreamResponse:
    """GET /ws: snapshot first, then call.live / call.ended messages with a per-connection seq."""
    principal = request[PRINCIPAL]
    check_origin(request, principal)
    limits = request.app[WS_LIMITS]
    connections = request.app[WS_CONNECTIONS]
    if sum(1 for c in connections if c.principal.login == principal.login) >= limits.max_per_login:
        raise Problem(
            status=429,
            detail=f"At most {limits.max_per_login} live feeds per user; close another tab first.",
        )
    ws = web.WebSocketResponse(
        heartbeat=limits.heartbeat,
        max_msg_size=limits.max_inbound_bytes,
        timeout=limits.close_timeout,
    )
    if not ws.can_prepare(request).ok:
        raise Problem(status=400, detail="This address speaks WebSocket only.")
    async with request.app[BUS].subscribe() as sub:
        # taken with no await after subscribing: every later change arrives on `sub`
        conn = FeedConnection(ws=ws, request=request, limits=limits, principal=principal)
        snapshot = {
            "type": "snapshot",
            "seq": 0,
            "server_time": iso(time.time()),
            "calls": conn.snapshot_calls(request.app[LIVE_CALLS]()),
        }
        await ws.prepare(request)
        connections.add(conn)
        forwarder = asyncio.create_task(conn.forward(sub, snapshot), name="ws-forward")
        recheck = asyncio.create_task(_recheck(request, conn), name="ws-recheck")
        bucket = TokenBucket(
            rate=limits.max_inbound_rate,
            burst=limits.max_inbound_burst,
            clock=asyncio.get_running_loop().time,
        )
        try:
            async for msg in ws:
                if msg.type is WSMsgType.ERROR:
                    break
                # the board sends nothing we act on; reading keeps pings and closes flowing
                if not bucket.take():
                    log.warning("websocket client %s sent too many messages; closing", conn.peer)
                    conn.close(CLOSE_TOO_MANY_MESSAGES, "too many messages")
                    break
        finally:
            connections.discard(conn)
            for task in (forwarder, recheck):
                task.cancel()
            await asyncio.gather(forwarder, recheck, return_exceptions=True)
            await conn.wait_closed()
    return ws


async def _recheck(request: web.Request, conn: FeedConnection) -> None:
    """Close the feed once its credentials stop being valid (logout, expiry, disable, revoke)."""
    while True:
        await asyncio.sleep(conn.recheck_every)
        try:
            principal = await identify(request)
        except Exception:
            log.exception("could not re-check a websocket's session; keeping it for now")
            continue
        if principal is None:
            conn.close(CLOSE_SIGNED_OUT, "signed out: sign in again")
            return
        conn.principal = principal  # a changed role or phone applies from now on


async def close_all(app: web.Application) -> None:
    """on_shutdown: tell every board the server is going away, so it reconnects elsewhere."""
    closing = [
        conn.close(WSCloseCode.GOING_AWAY, "server shutting down")
        for conn in list(app[WS_CONNECTIONS])
    ]
    await asyncio.gather(*closing, return_exceptions=True)
