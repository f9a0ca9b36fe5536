"""The live AMI link: connect, log in, keep alive, reconnect with backoff; panoramisk's traps closed."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from cti.ami.events import AmiEvent
from cti.ami.framing import Frame, FramingStats
from cti.ami.ingest import EventStream
from cti.ami.version import untested, untrackable

log = logging.getLogger(__name__)


class AmiNotConnected(ConnectionError):
    """No logged-in AMI session right now; the action was not sent and will not be re-sent."""


class AmiLoginFailed(ConnectionError):
    """Asterisk refused our credentials."""


class AmiActionFailed(RuntimeError):
    """Asterisk answered an action with an error."""


@dataclass
class LinkStats:
    connects: int = 0
    connect_failures: int = 0
    login_failures: int = 0
    ping_timeouts: int = 0
    handler_errors: int = 0
    actions_dropped: int = 0  #: pending actions failed by a disconnect (never re-sent)
    flow_pauses: int = 0  #: times reading stopped because the event backlog was full


def peer_text(text: object, limit: int = 200) -> str:
    """Text an AMI peer chose, made safe for one log line: control characters escaped, cut."""
    raw = str(text)
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in raw[:limit])
    return shown + ("…" if len(raw) > limit else "")


def backoff_delay(attempt: int, *, low: float, high: float, rand: Callable[[], float]) -> float:
    """Capped exponential backoff with jitter: a fleet of clients does not reconnect in step."""
    ceiling = min(high, low * (2 ** min(attempt, 30)))
    return ceiling / 2 + rand() * ceiling / 2


class AmiProtocol(AMIProtocol):
    """panoramisk's protocol for sending actions and matching responses, with our own reading.

    panoramisk decodes every read on its own (a Cyrillic letter split across two reads is
    lost), lets a raising callback or a frame with two `Event:` headers close the link, and
    re-sends unanswered actions after a reconnect (an Originate would ring twice). Here the
    bytes go through `EventStream`, handler errors are contained, and a lost link fails its
    pending actions instead of queueing them.
    """

    def __init__(
        self,
        *,
        on_event: Callable[[AmiEvent], None],
        variables: tuple[str, ...],
        max_frame_bytes: int,
        stats: LinkStats,
        backlog: Callable[[], int] | None = None,
        max_backlog: int = 50_000,
    ) -> None:
        super().__init__()
        self._stats = stats
        self._backlog = backlog
        self._max_backlog = max_backlog
        self._paused = False
        self._on_event = on_event
        self.stream = EventStream(
            on_event=self._event,
            on_response=self._response,
            variables=variables,
            max_frame_bytes=max_frame_bytes,
        )
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.encoding = "utf-8"
        self.log = log

    def data_received(self, data: bytes) -> None:
        try:
            self.stream.feed(data, time.time())
        except Exception:
            # never let a bug in one frame's handling drop the link and every live call with it
            self._stats.handler_errors += 1
            log.exception("AMI frame handling failed; frame skipped, link kept")
        self._flow_control()

    def _flow_control(self) -> None:
        """A flood of events must not queue without bound: stop reading (TCP pushes back on
        the PBX) until the consumer has worked the backlog down to half."""
        if self._backlog is None or self._paused or self.closed:
            return
        if self._backlog() >= self._max_backlog:
            self._paused = True
            self._stats.flow_pauses += 1
            log.warning(
                "AMI events arrive faster than they are handled (%d waiting): pausing reads",
                self._backlog(),
            )
            self.transport.pause_reading()
            asyncio.get_running_loop().call_later(0.02, self._maybe_resume)

    def _maybe_resume(self) -> None:
        if self.closed or self._backlog is None:
            return
        if self._backlog() > self._max_backlog // 2:
            asyncio.get_running_loop().call_later(0.02, self._maybe_resume)
            return
        self._paused = False
        self.transport.resume_reading()
        log.info("AMI event backlog worked down; reading again")

    def _event(self, event: AmiEvent) -> None:
        try:
            self._on_event(event)
        except Exception:
            self._stats.handler_errors += 1
            log.exception("AMI event handler failed for %s", type(event).__name__)

    def _response(self, frame: Frame) -> None:
        message = Message(dict(frame))
        response = self.responses.get(message.id) or (
            self.responses.get(message.action_id) if message.action_id else None
        )
        if response is not None and response.add_message(message):
            self.responses.pop(response.id, None)
            if response.action_id:
                self.responses.pop(response.action_id, None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        for action in list(self.responses.values()):
            if not action.future.done():
                self._stats.actions_dropped += 1
                action.future.set_exception(
                    AmiNotConnected("the AMI link dropped before Asterisk answered")
                )
        self.responses.clear()
        if not self.lost.done():
            self.lost.set_result(None)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()


class AmiClient:
    """One AMI session at a time, for as long as `run()` runs."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        on_event: Callable[[AmiEvent], None],
        on_connected: Callable[[], None] | None = None,
        variables: tuple[str, ...] = (),
        status_variables: tuple[str, ...] = (),
        ping_interval: float = 10.0,
        ping_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        reconnect_min: float = 0.5,
        reconnect_max: float = 30.0,
        max_frame_bytes: int = 1_048_576,
        backlog: Callable[[], int] | None = None,
        max_backlog: int = 50_000,
        rand: Callable[[], float] = random.random,
        events: Callable[[], bool] = lambda: True,
    ) -> None:
        self.host, self.port, self.username = host, port, username
        self._secret = secret
        self._on_event = on_event
        self._on_connected = on_connected
        self._variables = variables
        #: asked of every live channel after a resync (`Status`): Asterisk's own start and answer
        #: times, and the DID variable, for the calls that went on while cti was away
        self._status_variables = status_variables
        self.pbx_problem: str | None = None  #: why calls on this PBX cannot be tracked
        self._ping_interval, self._ping_timeout = ping_interval, ping_timeout
        self._connect_timeout = connect_timeout
        self._low, self._high = reconnect_min, reconnect_max
        self._max_frame = max_frame_bytes
        self._backlog, self._max_backlog = backlog, max_backlog
        self._rand = rand
        self._events = events  #: whether a new session asks for events (the AMI lease's holder)
        self._restart = False
        self.consuming = False  #: this session logged in with events on (and resynchronized)
        self._framing_before = FramingStats()  #: what earlier sessions' framers counted
        self._protocol: AmiProtocol | None = None
        self.connected = False
        self.stats = LinkStats()
        self.last_error: str | None = None

    def __repr__(self) -> str:  # the secret never appears in a repr, a log or a traceback
        return f"AmiClient({self.username}@{self.host}:{self.port})"

    @property
    def framing(self) -> FramingStats:
        """Frames seen, dropped as oversized, malformed or undecodable: every session so far."""
        current = self._protocol.stream.stats if self._protocol is not None else FramingStats()
        return _added(self._framing_before, current)

    def restart(self) -> None:
        """End the current session and open a new one at once: the lease changed hands, so
        the events are wanted (with a resync) or not any more."""
        self._restart = True
        if self._protocol is not None:
            self._protocol.close()

    async def run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._session()
                attempt = 0
            except AmiLoginFailed as exc:
                self.stats.login_failures += 1
                self.last_error = str(exc)
                log.error("%s", exc)
                attempt = max(attempt, 3)  # no point hammering a PBX that refuses us
            except (TimeoutError, OSError) as exc:
                self.stats.connect_failures += 1
                reason = exc.__class__.__name__ if not str(exc) else str(exc)
                self.last_error = f"cannot reach Asterisk AMI at {self.host}:{self.port}: {reason}"
                log.warning("%s", self.last_error)
            finally:
                self.connected = self.consuming = False
                if self._protocol is not None:
                    self._protocol.close()
                    self._framing_before = _added(self._framing_before, self._protocol.stream.stats)
                    self._protocol = None
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # Python 3.11's wait_for can swallow a cancel that lands as its future completes:
                # a cancelled client must stop, not reconnect forever
                raise asyncio.CancelledError
            if self._restart:
                self._restart = False
                attempt = 0
                continue
            delay = backoff_delay(attempt, low=self._low, high=self._high, rand=self._rand)
            attempt += 1
            log.info("reconnecting to AMI in %.1f s", delay)
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        _, protocol = await asyncio.wait_for(
            loop.create_connection(
                lambda: AmiProtocol(
                    on_event=self._on_event,
                    variables=self._variables,
                    max_frame_bytes=self._max_frame,
                    stats=self.stats,
                    backlog=self._backlog,
                    max_backlog=self._max_backlog,
                ),
                self.host,
                self.port,
            ),
            self._connect_timeout,
        )
        self._protocol = protocol
        self.stats.connects += 1
        self._restart = False
        consuming = self._events()
        login = Action(
            {
                "Action": "Login",
                "Username": self.username,
                "Secret": self._secret,
                "Events": "on" if consuming else "off",
            }
        )
        reply = await self._send(protocol, login, self._connect_timeout)
        if reply.get("Response") != "Success":
            raise AmiLoginFailed(
                f"Asterisk refused AMI login for user {self.username!r} at {self.host}:{self.port}: "
                f"{peer_text(reply.get('Message', 'no reason given'))}. Check ami_username/ami_secret "
                "(CTI_AMI_USERNAME, CTI_AMI_SECRET or ami_secret_file) against manager.conf, and its permit= lines."
            )
        self.connected, self.consuming = True, consuming
        self.last_error = None
        log.info(
            "AMI connected to %s:%s as %s%s",
            self.host,
            self.port,
            self.username,
            "" if consuming else " (standby: actions only, no events)",
            extra={"event": "ami_connected", "consuming": consuming},
        )
        self._check_version(protocol.stream.banner)
        if consuming:  # resynchronize: the reply's items flow through the event stream
            await self._send(protocol, Action({"Action": "CoreShowChannels"}), 30.0)
            await self._channel_status(protocol)
        if self._on_connected is not None:
            self._on_connected()
        await self._keepalive(protocol)

    def _check_version(self, banner: str) -> None:
        self.pbx_problem = untrackable(banner)
        if self.pbx_problem is not None:
            log.error(
                "AMI %s:%s: %s",
                self.host,
                self.port,
                self.pbx_problem,
                extra={"event": "pbx_unsupported", "banner": banner},
            )
        elif (warning := untested(banner)) is not None:
            log.warning("AMI %s:%s: %s", self.host, self.port, warning)

    async def _channel_status(self, protocol: AmiProtocol) -> None:
        if not self._status_variables:
            return
        action = {"Action": "Status", "Variables": ",".join(self._status_variables)}
        try:
            reply = await self._send(protocol, Action(action), 30.0)
        except TimeoutError:
            log.warning(
                "AMI Status got no answer in 30 s: times of calls that went on while cti "
                "was away are taken from when it looked"
            )
            return
        first = (reply[0] if reply else None) if isinstance(reply, list) else reply
        if first is not None and first.get("Response") == "Error":
            log.warning(
                "AMI Status refused (%s): times of calls answered while cti was away are taken "
                "from when it looked; give the AMI user write=reporting (docs/asterisk.md)",
                peer_text(first.get("Message", "no reason given")),
            )

    async def _keepalive(self, protocol: AmiProtocol) -> None:
        while True:
            try:
                await asyncio.wait_for(asyncio.shield(protocol.lost), self._ping_interval)
                log.warning("AMI connection to %s:%s lost", self.host, self.port)
                return
            except TimeoutError:
                pass
            try:
                await self._send(protocol, Action({"Action": "Ping"}), self._ping_timeout)
            except TimeoutError:
                self.stats.ping_timeouts += 1
                log.warning(
                    "AMI peer did not answer a Ping within %.1f s: the link is half-open; reconnecting",
                    self._ping_timeout,
                )
                protocol.transport.abort()
                return
            except AmiNotConnected:
                return

    async def _send(self, protocol: AmiProtocol, action: Action, timeout: float) -> Any:
        if protocol.closed:
            raise AmiNotConnected("the AMI link is down")
        future = protocol.send(action)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            protocol.responses.pop(action.id, None)

    async def action(self, fields: Mapping[str, Any], *, timeout: float = 10.0) -> Any:
        """Send one action on the current session. Never queued for a later session: if the
        link drops before Asterisk answers, this raises and the action is not re-sent."""
        protocol = self._protocol
        if protocol is None or not self.connected:
            raise AmiNotConnected(f"not connected to Asterisk AMI at {self.host}:{self.port}")
        reply = await self._send(protocol, Action(dict(fields)), timeout)
        first = reply[0] if isinstance(reply, list) else reply
        if first.get("Response") == "Error":
            raise AmiActionFailed(first.get("Message", "error"))
        return reply


def _added(a: FramingStats, b: FramingStats) -> FramingStats:
    return FramingStats(**{k: getattr(a, k) + getattr(b, k) for k in vars(a)})
