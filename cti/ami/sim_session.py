"""One AMI client connection to the PBX simulator: banner, login, actions, and the event stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from cti.ami.sim_pbx import AGENT_NAMES, Fields, encode

log = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
MAX_FRAME_LINES = 256  #: a client sending longer actions is not speaking AMI
MAX_BUFFERED_BYTES = 16 * 1024 * 1024  #: a client this far behind on reading is dropped
OFF_VALUES = {"off", "no", "false", "0", "none"}

Action = dict[str, str]


class SessionHost(Protocol):
    """What a session needs from the simulator."""

    auth_failure_delay: float

    def check_login(self, username: str, secret: str) -> bool: ...
    def timestamp(self) -> str: ...
    def session_logged_in(self, session: AmiSession) -> None: ...
    def session_sent(self, session: AmiSession, data: bytes) -> None: ...
    def session_closed(self, session: AmiSession) -> None: ...
    def core_show_channels(self) -> list[Fields]: ...
    def device_states(self) -> list[tuple[str, str]]: ...
    def channel_status(self, variables: list[str]) -> list[Fields]: ...
    def originate(self, *, agent: str, number: str, action_id: str | None) -> None: ...


class AmiSession:
    """Speaks AMI to one client; the simulator pushes events through `send`."""

    def __init__(
        self,
        *,
        host: SessionHost,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        number: int,
    ) -> None:
        self.number = number
        self.logged_in = False
        self.events_on = False
        self.closed = False
        self.prelogin: bytearray | None = bytearray()  #: what was sent before login (for recording)
        self._host = host
        self._reader = reader
        self._writer = writer
        self._handlers: dict[str, Callable[[Action], Awaitable[bool]]] = {
            "login": self._login,
            "logoff": self._logoff,
            "ping": self._ping,
            "events": self._events,
            "coreshowchannels": self._core_show_channels,
            "status": self._status,
            "devicestatelist": self._device_state_list,
            "originate": self._originate,
            "redirect": self._redirect,
        }

    @property
    def wants_events(self) -> bool:
        return self.logged_in and self.events_on and not self.closed

    def send(self, data: bytes) -> None:
        transport = self._writer.transport
        if self.closed or transport.is_closing():
            return
        if transport.get_write_buffer_size() > MAX_BUFFERED_BYTES:
            log.warning("AMI client %d reads too slowly: dropped", self.number)
            self.abort()
            return
        self._writer.write(data)
        if self.prelogin is not None:
            self.prelogin += data
        self._host.session_sent(self, data)

    def abort(self) -> None:
        """Close the connection abruptly (no goodbye), as a crashing PBX or a network cut would."""
        self._writer.transport.abort()

    async def run(self) -> None:
        try:
            self.send(BANNER)
            while not self.closed:
                action = await self._read_action()
                if action is None or not await self._dispatch(action):
                    break
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ):
            pass
        finally:
            await self._close()

    async def _close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._host.session_closed(self)
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()

    async def _read_action(self) -> Action | None:
        action: Action = {}
        lines = 0
        while True:
            raw = await self._reader.readline()
            if not raw:
                return None
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                if action:
                    return action
                continue
            lines += 1
            if lines > MAX_FRAME_LINES:
                raise ValueError("AMI action too long")
            key, sep, value = line.partition(":")
            if sep:
                action.setdefault(key.strip().lower(), value.strip())

    def _respond(self, action: Action, response: str, fields: Fields) -> None:
        head = [("Response", response)]
        if "actionid" in action:
            head.append(("ActionID", action["actionid"]))
        self.send(encode(head + fields))

    async def _dispatch(self, action: Action) -> bool:
        """Handle one action; False ends the session."""
        name = action.get("action", "").lower()
        if not name:
            self._respond(action, "Error", [("Message", "Missing action in request")])
            return True
        if not self.logged_in and name not in ("login", "logoff"):
            self._respond(action, "Error", [("Message", "Permission denied")])
            return True
        handler = self._handlers.get(name)
        if handler is None:
            self._respond(action, "Error", [("Message", "Invalid/unknown command")])
            return True
        return await handler(action)

    # ----- actions ----------------------------------------------------------------------------

    async def _login(self, action: Action) -> bool:
        if self.logged_in:
            self._respond(action, "Success", [("Message", "Already authenticated")])
            return True
        if not self._host.check_login(action.get("username", ""), action.get("secret", "")):
            self._respond(action, "Error", [("Message", "Authentication failed")])
            await asyncio.sleep(self._host.auth_failure_delay)  # Asterisk waits before closing
            return False
        self._respond(action, "Success", [("Message", "Authentication accepted")])
        self.logged_in = True
        self.events_on = action.get("events", "on").lower() not in OFF_VALUES
        self._host.session_logged_in(self)
        self.prelogin = None
        if self.events_on:
            self._greet(action.get("username", ""))
        return True

    def _greet(self, username: str) -> None:
        booted = [
            ("Privilege", "system,all"),
            ("Uptime", "0"),
            ("LastReload", "0"),
            ("Status", "Fully Booted"),
        ]
        self.send(encode([("Event", "FullyBooted"), *booted]))
        peer = self._writer.get_extra_info("peername") or ("127.0.0.1", 0)
        local = self._writer.get_extra_info("sockname") or ("127.0.0.1", 5038)
        auth = [
            ("Event", "SuccessfulAuth"),
            ("Privilege", "security,all"),
            ("Timestamp", self._host.timestamp()),
            ("Severity", "Informational"),
            ("Service", "AMI"),
            ("EventVersion", "1"),
            ("AccountID", username),
            ("SessionID", f"0x{0x7F95C4000000 + self.number:x}"),
            ("LocalAddress", f"IPV4/TCP/{local[0]}/{local[1]}"),
            ("RemoteAddress", f"IPV4/TCP/{peer[0]}/{peer[1]}"),
            ("UsingPassword", "0"),
        ]
        self.send(encode(auth))

    async def _logoff(self, action: Action) -> bool:
        self._respond(action, "Goodbye", [("Message", "Thanks for all the fish.")])
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()
        return False

    async def _ping(self, action: Action) -> bool:
        self._respond(action, "Success", [("Ping", "Pong"), ("Timestamp", self._host.timestamp())])
        return True

    async def _events(self, action: Action) -> bool:
        self.events_on = action.get("eventmask", "on").lower() not in OFF_VALUES
        self._respond(action, "Success", [("Events", "On" if self.events_on else "Off")])
        return True

    async def _core_show_channels(self, action: Action) -> bool:
        action_id = [("ActionID", action["actionid"])] if "actionid" in action else []
        items = self._host.core_show_channels()
        self._respond(
            action, "Success", [("EventList", "start"), ("Message", "Channels will follow")]
        )
        for fields in items:
            self.send(encode([("Event", "CoreShowChannel"), *action_id, *fields]))
        done = [("EventList", "Complete"), ("ListItems", str(len(items)))]
        self.send(encode([("Event", "CoreShowChannelsComplete"), *action_id, *done]))
        return True

    async def _status(self, action: Action) -> bool:
        """Every channel's status with the variables asked for (Status items, StatusComplete)."""
        action_id = [("ActionID", action["actionid"])] if "actionid" in action else []
        names = _variable_names(action.get("variables", ""))
        items = self._host.channel_status(names)
        self._respond(
            action, "Success", [("EventList", "start"), ("Message", "Channel status will follow")]
        )
        for fields in items:
            self.send(encode([("Event", "Status"), *action_id, *fields]))
        done = [
            ("EventList", "Complete"),
            ("ListItems", str(len(items))),
            ("Items", str(len(items))),
        ]
        self.send(encode([("Event", "StatusComplete"), *action_id, *done]))
        return True

    async def _device_state_list(self, action: Action) -> bool:
        """Every phone's state, as Asterisk lists them (DeviceStateChange items, then Complete)."""
        action_id = [("ActionID", action["actionid"])] if "actionid" in action else []
        items = self._host.device_states()
        self._respond(
            action,
            "Success",
            [("EventList", "start"), ("Message", "Device State Changes will follow")],
        )
        for device, state in items:
            fields = [("Event", "DeviceStateChange"), *action_id]
            self.send(encode([*fields, ("Device", device), ("State", state)]))
        done = [("EventList", "Complete"), ("ListItems", str(len(items)))]
        self.send(encode([("Event", "DeviceStateListComplete"), *action_id, *done]))
        return True

    async def _originate(self, action: Action) -> bool:
        tech, _, endpoint = action.get("channel", "").partition("/")
        number = action.get("exten", "")
        if tech.upper() != "PJSIP" or endpoint not in AGENT_NAMES:
            self._respond(action, "Error", [("Message", "Originate failed: unknown channel")])
            return True
        if not number:
            self._respond(action, "Error", [("Message", "Exten not specified")])
            return True
        self._respond(action, "Success", [("Message", "Originate successfully queued")])
        self._host.originate(agent=endpoint, number=number, action_id=action.get("actionid"))
        return True

    async def _redirect(self, action: Action) -> bool:
        if not action.get("channel"):
            self._respond(action, "Error", [("Message", "Channel not specified")])
        else:  # the simulated calls follow their script: a redirect is acknowledged, not acted on
            self._respond(action, "Success", [("Message", "Redirect successful")])
        return True


def _variable_names(raw: str) -> list[str]:
    """`CTI_DID,CDR(start,u)` -> the names, commas inside parentheses kept (as Asterisk's
    argument parser does)."""
    names, depth, current = [], 0, ""
    for ch in raw:
        if ch == "," and depth == 0:
            names.append(current.strip())
            current = ""
            continue
        depth += (ch == "(") - (ch == ")")
        current += ch
    names.append(current.strip())
    return [n for n in names if n]
