"""A FastAGI server: Asterisk's AGI(agi://host:4573/route) asks, we answer with SET VARIABLE.

Our own small asyncio server rather than panoramisk's `fast_agi.Application`, whose handler
spins forever on a connection that closes before the blank line ending the environment,
reads without a size limit or a timeout, swallows CancelledError (BaseException) so a shutdown
waits on it, routes `agi://host/route?x=1` nowhere, and waits on replies without a deadline.

It is a protocol, not streams: a session is one environment block, one decision, then a
`SET VARIABLE` per variable, each sent as soon as Asterisk acknowledges the previous one (res_agi
reads commands one at a time, so they cannot be pipelined). Driving that exchange from
`data_received` costs a fraction of a StreamReader round trip, and the exchange is most of a
session.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

log = logging.getLogger(__name__)

#: an AGI environment is ~1 KiB; anything far larger is not Asterisk
MAX_ENV_BYTES = 16_384
#: one reply line ("200 result=1") is a few bytes; a longer line without its newline is not Asterisk
MAX_LINE_BYTES = 4_096
#: everything a session may send (environment, replies, HANGUPs): a few KiB in practice
MAX_SESSION_BYTES = 65_536
#: at most one "refused" log line per this many seconds (a scanner must not flood the log)
REFUSAL_LOG_INTERVAL = 60.0
DEFAULT_SOURCES = ("127.0.0.1", "::1")


class AgiError(Exception):
    """Asterisk refused a command or the session broke; the session is closed."""


@dataclass(frozen=True)
class AgiRequest:
    """One FastAGI session's question: the environment block and the script's arguments."""

    env: Mapping[str, str]
    script: str  #: agi_network_script without its query string: "route"
    query: Mapping[str, str] = field(default_factory=dict)  #: agi://host/route?did=...

    def arg(self, n: int) -> str:
        """`AGI(agi://host/route,ARG1,ARG2,...)`: agi_arg_n, "" when absent."""
        return self.env.get(f"agi_arg_{n}", "")

    @property
    def uniqueid(self) -> str:
        return self.env.get("agi_uniqueid", "")


#: a route: returns the channel variables to set, in order
AgiHandler = Callable[[AgiRequest], Awaitable[Mapping[str, str]]]


def quote_value(value: str) -> str:
    """A SET VARIABLE argument as res_agi parses it: in double quotes, \\ and " escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def parse_request(block: bytes) -> AgiRequest:
    """The environment block (`agi_name: value` lines) as a request."""
    env: dict[str, str] = {}
    for raw in block.decode("utf-8", errors="replace").splitlines():
        name, sep, value = raw.partition(":")
        if sep:
            env[name.strip()] = value.strip()
    script, _, query = env.get("agi_network_script", "").partition("?")
    return AgiRequest(env=env, script=script.strip("/"), query=dict(parse_qsl(query)))


@dataclass
class AgiStats:
    sessions: int = 0
    errors: int = 0  #: sessions that ended before every variable was set
    unknown_routes: int = 0
    refused: int = 0  #: connections closed at once: a source not allowed, or too many sessions


class FastAgiServer:
    """Serves AGI routes on host:port; each session gets `timeout` seconds in all."""

    def __init__(
        self,
        *,
        routes: Mapping[str, AgiHandler],
        host: str = "127.0.0.1",
        port: int = 4573,
        timeout: float = 5.0,
        max_sessions: int = 256,
        allowed_sources: tuple[str, ...] = DEFAULT_SOURCES,
    ) -> None:
        self.routes = dict(routes)
        self.host, self.port = host, port
        self.timeout = timeout
        self.max_sessions = max_sessions
        self.allowed = [ipaddress.ip_network(a, strict=False) for a in allowed_sources]
        self._last_refusal_log = -REFUSAL_LOG_INTERVAL
        self._server: asyncio.Server | None = None
        self.sessions: set[_Session] = set()
        self.stats = AgiStats()
        self.last_error: str | None = None

    @property
    def listening(self) -> bool:
        return self._server is not None

    def health(self) -> dict[str, object]:
        return {
            "url": f"agi://{self.host}:{self.port}/",
            "listening": self.listening,
            "error": self.last_error,
        }

    def allows(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.allowed)

    def refuse(self, why: str) -> None:
        """Count a refused connection; log at most one line per REFUSAL_LOG_INTERVAL."""
        self.stats.refused += 1
        now = time.monotonic()
        if now - self._last_refusal_log >= REFUSAL_LOG_INTERVAL:
            self._last_refusal_log = now
            log.warning(
                "FastAGI connection refused: %s (%d refused so far; further refusals are not "
                "logged for %g s)",
                why,
                self.stats.refused,
                REFUSAL_LOG_INTERVAL,
            )

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # a deep accept queue: a burst of calls must not wait out SYN retransmissions (1 s, 3 s)
        self._server = await loop.create_server(
            lambda: _Session(self), self.host, self.port, backlog=1024
        )
        self.last_error = None
        sockets = self._server.sockets or ()
        if sockets and self.port == 0:
            self.port = sockets[0].getsockname()[1]
        log.info("FastAGI listening on agi://%s:%s/", self.host, self.port)

    async def run(self) -> None:
        """Serve until cancelled (an application-owned task)."""
        if self._server is None:
            await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        tasks = [s.abort() for s in list(self.sessions)]
        await asyncio.gather(*(t for t in tasks if t is not None), return_exceptions=True)


class _Session(asyncio.Protocol):
    """One connection: environment, decision, then SET VARIABLE after SET VARIABLE."""

    def __init__(self, server: FastAgiServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._commands: Iterator[str] | None = None
        self._command = ""
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._done = False
        self._received = 0

    # --- asyncio callbacks -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        server = self._server
        peer = transport.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) else ""
        if not server.allows(address):
            self._done = True
            server.refuse(f"{address or peer} is not in agi_allowed_sources")
            transport.abort()
            return
        if len(server.sessions) >= server.max_sessions:
            self._done = True
            server.refuse(f"{server.max_sessions} sessions already open (agi_max_sessions)")
            transport.abort()
            return
        self._server.sessions.add(self)
        self._server.stats.sessions += 1
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._server.timeout, self._timed_out)

    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        self._received += len(data)
        if self._received > MAX_SESSION_BYTES:
            self._fail(f"over {MAX_SESSION_BYTES} bytes in one session")
            return
        self._buffer += data
        if self._commands is None and self._task is None:
            self._read_environment()
        elif self._commands is not None:
            self._read_replies()
        elif len(self._buffer) > MAX_ENV_BYTES:
            self._fail(f"{len(self._buffer)} bytes arrived while deciding")

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._done:
            self._fail("the connection closed before every variable was set", close=False)
        self._finish()

    # --- the exchange ----------------------------------------------------------------------------

    def _read_environment(self) -> None:
        end = self._buffer.find(b"\n\n")
        if end < 0:
            if len(self._buffer) > MAX_ENV_BYTES:
                self._fail(f"AGI environment over {MAX_ENV_BYTES} bytes")
            return
        request = parse_request(self._buffer[:end])
        self._buffer = self._buffer[end + 2 :]
        handler = self._server.routes.get(request.script)
        if handler is None:
            self._server.stats.unknown_routes += 1
            self._fail(
                f"no route {request.script!r} (known: {', '.join(sorted(self._server.routes))}); "
                "the dialplan should call agi://HOST:PORT/route"
            )
            return
        self._task = asyncio.get_running_loop().create_task(self._decide(handler, request))

    async def _decide(self, handler: AgiHandler, request: AgiRequest) -> None:
        try:
            variables = await handler(request)
        except Exception:
            log.exception("FastAGI route %r failed", request.script)
            self._fail("the route failed")
            return
        self._commands = (f"SET VARIABLE {k} {quote_value(v)}\n" for k, v in variables.items())
        self._next()
        if self._buffer:
            self._read_replies()

    def _next(self) -> None:
        assert self._commands is not None and self._transport is not None
        command = next(self._commands, None)
        if command is None:
            self._done = True
            self._transport.close()
            return
        self._command = command
        self._transport.write(command.encode("utf-8"))

    def _read_replies(self) -> None:
        while not self._done and b"\n" in self._buffer:
            line, _, self._buffer = self._buffer.partition(b"\n")
            reply = line.decode("utf-8", errors="replace").strip()
            if reply.startswith("HANGUP"):
                # the caller hung up (variables can still be set); older Asterisk sends it as TCP
                # urgent data, which loses its newline and glues it to the next reply
                reply = reply[len("HANGUP") :].strip()
                if not reply:
                    continue
            if reply.startswith("200"):
                self._next()
            else:
                self._fail(f"Asterisk answered {reply!r} to {self._command[:60].strip()!r}")
        if not self._done and len(self._buffer) > MAX_LINE_BYTES:
            self._fail(f"a reply line over {MAX_LINE_BYTES} bytes")

    # --- endings ---------------------------------------------------------------------------------

    def _timed_out(self) -> None:
        self._timer = None
        self._fail(f"no answer within {self._server.timeout:g} s")

    def _fail(self, why: str, *, close: bool = True) -> None:
        if self._done:
            return
        self._done = True
        self._server.stats.errors += 1
        log.warning("FastAGI session from %s ended early: %s", self._peer(), why)
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if close and self._transport is not None:
            self._transport.close()

    def _finish(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._server.sessions.discard(self)

    def abort(self) -> asyncio.Task[None] | None:
        """Shutdown: end the session now; the decision task, if any, to wait for."""
        self._fail("the server is shutting down")
        if self._transport is not None:
            self._transport.abort()
        return self._task

    def _peer(self) -> str:
        peer = self._transport.get_extra_info("peername") if self._transport else None
        return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
