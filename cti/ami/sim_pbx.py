"""The simulated PBX's channels and bridges, and the core AMI events Asterisk 22 emits as they change."""

from __future__ import annotations

import functools
import itertools
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cti.ami.sim_clock import SimClock

Fields = list[tuple[str, str]]

DOWN, RING, RINGING, UP = 0, 4, 5, 6  #: ChannelState codes the simulator uses
STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
CAUSE_TEXT = {
    0: "Unknown",
    16: "Normal Clearing",
    17: "User busy",
    26: "Answered elsewhere",
    127: "Interworking, unspecified",
}
UNKNOWN = "<unknown>"
AGENT_NAMES = {
    "101": "Ivan Petrov",
    "102": "Maria Sidorova",
    "103": "Oleg Smirnov",
    "199": "Duty Operator",
}
TRUNK = "trunk"


def encode(fields: Fields) -> bytes:
    """One AMI frame on the wire: `Key: Value` lines, CRLF, then an empty line; UTF-8."""
    text = "".join([f"{key}: {value}\r\n" for key, value in fields])
    if text.count("\n") != len(fields) or text.count("\r") != len(fields):  # a value spans lines
        text = "".join([f"{key}: {_one_line(value)}\r\n" for key, value in fields])
    return (text + "\r\n").encode("utf-8")


def _one_line(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")


@functools.cache
def _keys(prefix: str, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(prefix + name for name in names)


CHANNEL_KEYS = (
    "Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "ConnectedLineNum",
    "ConnectedLineName", "Language", "AccountCode", "Context", "Exten", "Priority", "Uniqueid", "Linkedid",
)  # fmt: skip
BRIDGE_KEYS = (
    "BridgeUniqueid", "BridgeType", "BridgeTechnology", "BridgeCreator", "BridgeName",
    "BridgeNumChannels", "BridgeVideoSourceMode",
)  # fmt: skip


def uniqueid_order(uniqueid: str) -> tuple[int, int]:
    """Sort key of an Asterisk uniqueid `<epoch>.<sequence>`: older first."""
    epoch, _, seq = uniqueid.partition(".")
    return int(epoch), int(seq or 0)


@dataclass(eq=False)
class Bridge:
    """A basic two-party (or more) bridge."""

    uniqueid: str
    members: list[Channel] = field(default_factory=list)
    technology: str = "simple_bridge"

    def snapshot(self, prefix: str = "") -> Fields:
        values = (
            self.uniqueid,
            "basic",
            self.technology,
            UNKNOWN,
            UNKNOWN,
            str(len(self.members)),
            "none",
        )
        return list(zip(_keys(prefix, BRIDGE_KEYS), values, strict=True))


@dataclass(eq=False)
class Channel:
    """One live channel, with the fields every channel event carries."""

    name: str
    uniqueid: str
    linkedid: str
    created_at: float
    state: int
    cid_num: str
    cid_name: str
    context: str
    exten: str
    priority: int = 1
    conn_num: str = UNKNOWN
    conn_name: str = UNKNOWN
    application: str = ""
    app_data: str = ""
    bridge: Bridge | None = None
    answered_at: float | None = None  #: when it went Up (Asterisk's CDR answer time)
    variables: dict[str, str] = field(default_factory=dict)  #: what the dialplan set on it

    @property
    def device(self) -> str:
        """`PJSIP/101-00000001` -> `PJSIP/101`."""
        return self.name.rsplit("-", 1)[0]

    def snapshot(self, prefix: str = "") -> Fields:
        """The standard channel fields, in Asterisk's order, optionally prefixed (`Dest`...)."""
        values = (
            self.name, str(self.state), STATE_DESC[self.state], self.cid_num, self.cid_name,
            self.conn_num, self.conn_name, "en", "", self.context, self.exten, str(self.priority),
            self.uniqueid, self.linkedid,
        )  # fmt: skip
        return list(zip(_keys(prefix, CHANNEL_KEYS), values, strict=True))


class Pbx:
    """Live channels and bridges; every change is sent as the AMI event Asterisk would send."""

    def __init__(
        self, *, clock: SimClock, send: Callable[[bytes], None], rng: random.Random
    ) -> None:
        self.clock = clock
        self.rng = rng
        self._send = send
        self.channels: dict[str, Channel] = {}  #: live channels by uniqueid, oldest first
        self._uid_seq = itertools.count()
        self._pjsip_seq = itertools.count()
        self._local_seq = itertools.count()
        self._optimization_seq = itertools.count()
        self._device_users: dict[str, int] = {}
        self._in_use: set[str] = set()

    # ----- identities -------------------------------------------------------------------------

    def next_uniqueid(self, at: float | None = None) -> str:
        return f"{int(self.clock.now if at is None else at)}.{next(self._uid_seq)}"

    def pjsip_name(self, endpoint: str) -> str:
        return f"PJSIP/{endpoint}-{next(self._pjsip_seq):08x}"

    def local_names(self, exten: str, context: str) -> tuple[str, str]:
        base = f"Local/{exten}@{context}-{next(self._local_seq):08x}"
        return f"{base};1", f"{base};2"

    def next_optimization_id(self) -> int:
        return next(self._optimization_seq)

    def new_bridge_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    # ----- emission ---------------------------------------------------------------------------

    def event(self, name: str, privilege: str, fields: Fields) -> None:
        head = [("Event", name), ("Privilege", privilege), ("Timestamp", self.clock.stamp())]
        self._send(encode(head + fields))

    def channel_event(
        self, name: str, ch: Channel, extra: Fields | None = None, privilege: str = "call,all"
    ) -> None:
        self.event(name, privilege, ch.snapshot() + (extra or []))

    # ----- channels ---------------------------------------------------------------------------

    def new_channel(
        self,
        name: str,
        *,
        state: int,
        cid_num: str,
        cid_name: str,
        context: str,
        exten: str,
        linkedid: str | None = None,
        uniqueid: str | None = None,
    ) -> Channel:
        uid = uniqueid or self.next_uniqueid()
        ch = Channel(
            name=name,
            uniqueid=uid,
            linkedid=linkedid or uid,
            created_at=self.clock.now,
            state=state,
            cid_num=cid_num,
            cid_name=cid_name,
            context=context,
            exten=exten,
        )
        self.channels[uid] = ch
        self.channel_event("Newchannel", ch)
        if state in (RING, RINGING, UP):
            self._device_busy(ch)
        return ch

    def var_set(self, ch: Channel, variable: str, value: str) -> None:
        ch.variables[variable.lstrip("_")] = value
        self.channel_event("VarSet", ch, [("Variable", variable), ("Value", value)], "dialplan,all")

    def new_exten(
        self,
        ch: Channel,
        app: str,
        data: str,
        *,
        context: str | None = None,
        exten: str | None = None,
        priority: int | None = None,
    ) -> None:
        ch.context = ch.context if context is None else context
        ch.exten = ch.exten if exten is None else exten
        ch.priority = ch.priority if priority is None else priority
        ch.application, ch.app_data = app, data
        extra = [("Extension", ch.exten), ("Application", app), ("AppData", data)]
        self.channel_event("Newexten", ch, extra, "dialplan,all")

    def new_state(self, ch: Channel, state: int) -> None:
        ch.state = state
        if state == UP and ch.answered_at is None:
            ch.answered_at = self.clock.now
        self.channel_event("Newstate", ch)
        self._device_busy(ch)

    def new_connected_line(self, ch: Channel, num: str, name: str) -> None:
        ch.conn_num, ch.conn_name = num, name
        self.channel_event("NewConnectedLine", ch)

    def new_callerid(self, ch: Channel, num: str, name: str) -> None:
        ch.cid_num, ch.cid_name = num, name
        self.channel_event(
            "NewCallerid", ch, [("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")]
        )

    def hangup_request(self, ch: Channel, cause: int | None = None, *, soft: bool = False) -> None:
        extra = [] if cause is None else [("Cause", str(cause))]
        self.channel_event("SoftHangupRequest" if soft else "HangupRequest", ch, extra)

    def hangup(self, ch: Channel, cause: int) -> None:
        self.channel_event("Hangup", ch, [("Cause", str(cause)), ("Cause-txt", CAUSE_TEXT[cause])])
        self.channels.pop(ch.uniqueid, None)
        self._device_free(ch)

    # ----- dialling -------------------------------------------------------------------------

    def dial_begin(self, caller: Channel | None, dest: Channel, dialstring: str) -> None:
        self._dial_event("DialBegin", caller, dest, ("DialString", dialstring))

    def dial_state(self, caller: Channel | None, dest: Channel, status: str = "RINGING") -> None:
        self._dial_event("DialState", caller, dest, ("DialStatus", status))

    def dial_end(self, caller: Channel | None, dest: Channel, status: str) -> None:
        self._dial_event("DialEnd", caller, dest, ("DialStatus", status))

    def _dial_event(
        self, name: str, caller: Channel | None, dest: Channel, last: tuple[str, str]
    ) -> None:
        fields = caller.snapshot() if caller is not None else []
        self.event(name, "call,all", fields + dest.snapshot("Dest") + [last])

    # ----- bridges ----------------------------------------------------------------------------

    def bridge_create(self) -> Bridge:
        bridge = Bridge(uniqueid=self.new_bridge_id())
        self.event("BridgeCreate", "call,all", bridge.snapshot())
        return bridge

    def bridge_enter(self, bridge: Bridge, ch: Channel, *, swap: Channel | None = None) -> None:
        """`ch` joins; like Asterisk 12+, every member takes the oldest Linkedid in the bridge."""
        bridge.members.append(ch)
        ch.bridge = bridge
        stay = [m for m in bridge.members if m is not swap]
        oldest = min((m.linkedid for m in stay), key=uniqueid_order)
        for member in stay:
            member.linkedid = oldest
        extra = [("SwapUniqueid", swap.uniqueid)] if swap is not None else []
        self.event("BridgeEnter", "call,all", bridge.snapshot() + ch.snapshot() + extra)
        if len(bridge.members) >= 2:
            bridge.technology = "native_rtp"

    def bridge_leave(self, bridge: Bridge, ch: Channel) -> None:
        if ch in bridge.members:
            bridge.members.remove(ch)
        ch.bridge = None
        self.event("BridgeLeave", "call,all", bridge.snapshot() + ch.snapshot())

    def bridge_destroy(self, bridge: Bridge) -> None:
        self.event("BridgeDestroy", "call,all", bridge.snapshot())

    # ----- noise that production streams are full of ------------------------------------------

    def device_state(self, device: str, state: str) -> None:
        self.event("DeviceStateChange", "call,all", [("Device", device), ("State", state)])

    def cdr(
        self, ch: Channel, *, dest: Channel | None, answered_at: float | None, disposition: str
    ) -> None:
        now = self.clock.now
        fields = [
            ("AccountCode", ""),
            ("Source", ch.cid_num),
            ("Destination", ch.exten),
            ("DestinationContext", ch.context),
            ("CallerID", f'"{ch.cid_name}" <{ch.cid_num}>'),
            ("Channel", ch.name),
            ("DestinationChannel", dest.name if dest is not None else ""),
            ("LastApplication", ch.application),
            ("LastData", ch.app_data),
            ("StartTime", _cdr_time(ch.created_at)),
            ("AnswerTime", _cdr_time(answered_at) if answered_at is not None else ""),
            ("EndTime", _cdr_time(now)),
            ("Duration", str(int(now - ch.created_at))),
            ("BillableSeconds", str(int(now - answered_at)) if answered_at is not None else "0"),
            ("Disposition", disposition),
            ("AMAFlags", "DOCUMENTATION"),
            ("UniqueID", ch.uniqueid),
            ("UserField", ""),
        ]
        self.event("Cdr", "cdr,all", fields)

    def _device_busy(self, ch: Channel) -> None:
        if ch.state == DOWN or ch.uniqueid in self._in_use or not ch.name.startswith("PJSIP/"):
            return
        self._in_use.add(ch.uniqueid)
        users = self._device_users.get(ch.device, 0)
        self._device_users[ch.device] = users + 1
        if users == 0:
            self.device_state(ch.device, "INUSE" if ch.device == f"PJSIP/{TRUNK}" else "BUSY")

    def _device_free(self, ch: Channel) -> None:
        if ch.uniqueid not in self._in_use:
            return
        self._in_use.discard(ch.uniqueid)
        users = self._device_users.pop(ch.device, 1) - 1
        if users > 0:
            self._device_users[ch.device] = users
        else:
            self.device_state(ch.device, "NOT_INUSE")


def _cdr_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")
