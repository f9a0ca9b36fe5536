"""Typed, frozen AMI events: the only shape of AMI the domain ever sees."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cti.ami.framing import Frame


@dataclass(frozen=True, slots=True)
class AmiEvent:
    ts: float  #: the event's `Timestamp:` header, else the time it was received


@dataclass(frozen=True, slots=True)
class ChannelEvent(AmiEvent):
    uniqueid: str
    linkedid: str
    channel: str


@dataclass(frozen=True, slots=True)
class SessionStarted(AmiEvent):
    """A new AMI session began (banner seen): live state must be resynchronized."""

    banner: str = ""


@dataclass(frozen=True, slots=True)
class Newchannel(ChannelEvent):
    state: str
    caller_num: str
    caller_name: str
    context: str
    exten: str


@dataclass(frozen=True, slots=True)
class Newstate(ChannelEvent):
    state: str
    caller_num: str
    caller_name: str


@dataclass(frozen=True, slots=True)
class NewCallerid(ChannelEvent):
    caller_num: str
    caller_name: str


@dataclass(frozen=True, slots=True)
class Rename(ChannelEvent):
    newname: str


@dataclass(frozen=True, slots=True)
class Hangup(ChannelEvent):
    cause: str


@dataclass(frozen=True, slots=True)
class DialBegin(ChannelEvent):
    """`channel`/`uniqueid` are empty for an Originate's first leg (nobody dials it)."""

    dest_uniqueid: str
    dest_linkedid: str
    dest_channel: str
    dest_caller_num: str
    dest_exten: str
    dial_string: str


@dataclass(frozen=True, slots=True)
class DialEnd(ChannelEvent):
    dest_uniqueid: str
    dest_linkedid: str
    dest_channel: str
    dial_status: str


@dataclass(frozen=True, slots=True)
class BridgeEnter(ChannelEvent):
    bridge_id: str


@dataclass(frozen=True, slots=True)
class BridgeLeave(ChannelEvent):
    bridge_id: str


@dataclass(frozen=True, slots=True)
class QueueCallerJoin(ChannelEvent):
    queue: str


@dataclass(frozen=True, slots=True)
class QueueCallerLeave(ChannelEvent):
    queue: str


@dataclass(frozen=True, slots=True)
class QueueCallerAbandon(ChannelEvent):
    queue: str


@dataclass(frozen=True, slots=True)
class AgentEvent(ChannelEvent):
    """AgentCalled, AgentConnect, AgentRingNoAnswer, AgentComplete: `channel` is the caller's."""

    dest_uniqueid: str
    dest_channel: str
    interface: str
    member_name: str
    queue: str


@dataclass(frozen=True, slots=True)
class AgentCalled(AgentEvent):
    pass


@dataclass(frozen=True, slots=True)
class AgentConnect(AgentEvent):
    pass


@dataclass(frozen=True, slots=True)
class AgentRingNoAnswer(AgentEvent):
    pass


@dataclass(frozen=True, slots=True)
class AgentComplete(AgentEvent):
    pass


@dataclass(frozen=True, slots=True)
class Hold(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True)
class Unhold(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True)
class BlindTransfer(AmiEvent):
    transferer_uniqueid: str
    transferer_linkedid: str
    transferee_uniqueid: str
    transferee_linkedid: str
    extension: str
    result: str


@dataclass(frozen=True, slots=True)
class AttendedTransfer(AmiEvent):
    orig_transferer_uniqueid: str
    orig_transferer_linkedid: str
    second_transferer_uniqueid: str
    second_transferer_linkedid: str
    transferee_uniqueid: str
    transferee_linkedid: str
    target_uniqueid: str
    target_linkedid: str
    result: str


@dataclass(frozen=True, slots=True)
class Pickup(ChannelEvent):
    """`channel` picked up `target_channel`, which was ringing."""

    target_uniqueid: str
    target_linkedid: str
    target_channel: str


@dataclass(frozen=True, slots=True)
class VarSet(ChannelEvent):
    variable: str
    value: str


@dataclass(frozen=True, slots=True)
class OriginateResponse(AmiEvent):
    uniqueid: str
    channel: str
    exten: str
    context: str
    response: str
    reason: str
    action_id: str


@dataclass(frozen=True, slots=True)
class CoreShowChannel(ChannelEvent):
    """One live channel in a CoreShowChannels reply (no Timestamp: ts is the time received)."""

    state: str
    caller_num: str
    caller_name: str
    connected_num: str
    context: str
    exten: str
    application: str
    duration: float
    bridge_id: str
    action_id: str


@dataclass(frozen=True, slots=True)
class CoreShowChannelsComplete(AmiEvent):
    action_id: str


@dataclass(frozen=True, slots=True)
class ChannelStatus(ChannelEvent):
    """One channel of a `Status` reply: what Asterisk itself knows of a live channel, with the
    variables asked for (`CDR(start,u)`, `CDR(answer,u)`, the DID variable)."""

    state: str
    dnid: str
    bridge_id: str
    seconds: float
    variables: tuple[tuple[str, str], ...]
    action_id: str

    def variable(self, name: str) -> str:
        for key, value in self.variables:
            if key == name:
                return value
        return ""


@dataclass(frozen=True, slots=True)
class StatusComplete(AmiEvent):
    action_id: str


@dataclass(frozen=True, slots=True)
class Shutdown(AmiEvent):
    """Asterisk is shutting down or restarting: the link will drop."""


@dataclass(frozen=True, slots=True)
class DeviceStateChange(AmiEvent):
    """A phone's device state (also each item of a DeviceStateList reply, with ActionID)."""

    device: str  #: e.g. PJSIP/101
    state: str  #: NOT_INUSE, INUSE, BUSY, UNAVAILABLE, RINGING, ONHOLD, UNKNOWN, INVALID...
    action_id: str = ""


@dataclass(frozen=True, slots=True)
class ExtensionStatus(AmiEvent):
    """A dialplan hint's state: the extension's phone(s) as one."""

    exten: str
    context: str
    hint: str  #: e.g. PJSIP/101
    status: str  #: numeric: -1 removed, 0 idle, 1 in use, 2 busy, 4 unavailable, 8 ringing, 16 hold
    status_text: str


@dataclass(frozen=True, slots=True)
class ContactStatus(AmiEvent):
    """A PJSIP contact (a phone's registration) became reachable, unreachable or removed."""

    aor: str
    endpoint: str
    uri: str
    contact_status: str  #: Created, Reachable, Unreachable, Removed, Updated, NonQualified


#: what Asterisk puts in a caller ID field it does not know: never a number or a name
_UNKNOWN = "<unknown>"


def _cid(frame: Frame, key: str) -> str:
    value = frame.get(key, "")
    return "" if value == _UNKNOWN else value


def _variables(frame: Frame) -> tuple[tuple[str, str], ...]:
    """`Variable: NAME=value` headers (the first is in the frame, repeats in `extra`)."""
    raw = [frame["Variable"]] if "Variable" in frame else []
    raw += [value for key, value in frame.extra if key == "Variable"]
    pairs = []
    for item in raw:
        name, sep, value = item.partition("=")
        if sep:
            pairs.append((name.strip(), value))
    return tuple(pairs)


def _seconds(raw: str) -> float:
    try:
        return max(0.0, float(raw))
    except ValueError:
        return 0.0


def _ts(frame: Frame, received_at: float) -> float:
    raw = frame.get("Timestamp")
    if raw:
        try:
            return float(raw)
        except ValueError:
            pass
    return received_at


def _chan(frame: Frame, prefix: str = "") -> tuple[str, str, str]:
    g = frame.get
    return g(prefix + "Uniqueid", ""), g(prefix + "Linkedid", ""), g(prefix + "Channel", "")


def _duration(raw: str) -> float:
    """`HH:MM:SS` (CoreShowChannel) to seconds; garbage is 0."""
    try:
        parts = [int(p) for p in raw.split(":")]
    except ValueError:
        return 0.0
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + part
    return float(seconds)


def _agent(cls: type[AgentEvent]) -> Callable[[Frame, float], AmiEvent]:
    def build(f: Frame, ts: float) -> AmiEvent:
        g = f.get
        return cls(
            ts,
            *_chan(f),
            g("DestUniqueid", ""),
            g("DestChannel", ""),
            g("Interface", ""),
            g("MemberName", ""),
            g("Queue", ""),
        )

    return build


def _queue(
    cls: type[QueueCallerJoin] | type[QueueCallerLeave] | type[QueueCallerAbandon],
) -> Callable[[Frame, float], AmiEvent]:
    return lambda f, ts: cls(ts, *_chan(f), f.get("Queue", ""))


_BUILDERS: dict[str, Callable[[Frame, float], AmiEvent]] = {
    "Newchannel": lambda f, ts: Newchannel(
        ts,
        *_chan(f),
        f.get("ChannelStateDesc", ""),
        _cid(f, "CallerIDNum"),
        _cid(f, "CallerIDName"),
        f.get("Context", ""),
        f.get("Exten", ""),
    ),
    "Newstate": lambda f, ts: Newstate(
        ts,
        *_chan(f),
        f.get("ChannelStateDesc", ""),
        _cid(f, "CallerIDNum"),
        _cid(f, "CallerIDName"),
    ),
    "NewCallerid": lambda f, ts: NewCallerid(
        ts, *_chan(f), _cid(f, "CallerIDNum"), _cid(f, "CallerIDName")
    ),
    "Rename": lambda f, ts: Rename(ts, *_chan(f), f.get("Newname", "")),
    "Hangup": lambda f, ts: Hangup(ts, *_chan(f), f.get("Cause", "")),
    "DialBegin": lambda f, ts: DialBegin(
        ts,
        *_chan(f),
        *_chan(f, "Dest"),
        _cid(f, "DestCallerIDNum"),
        f.get("DestExten", ""),
        f.get("DialString", ""),
    ),
    "DialEnd": lambda f, ts: DialEnd(ts, *_chan(f), *_chan(f, "Dest"), f.get("DialStatus", "")),
    "BridgeEnter": lambda f, ts: BridgeEnter(ts, *_chan(f), f.get("BridgeUniqueid", "")),
    "BridgeLeave": lambda f, ts: BridgeLeave(ts, *_chan(f), f.get("BridgeUniqueid", "")),
    "QueueCallerJoin": _queue(QueueCallerJoin),
    "QueueCallerLeave": _queue(QueueCallerLeave),
    "QueueCallerAbandon": _queue(QueueCallerAbandon),
    "AgentCalled": _agent(AgentCalled),
    "AgentConnect": _agent(AgentConnect),
    "AgentRingNoAnswer": _agent(AgentRingNoAnswer),
    "AgentComplete": _agent(AgentComplete),
    "Hold": lambda f, ts: Hold(ts, *_chan(f)),
    "Unhold": lambda f, ts: Unhold(ts, *_chan(f)),
    "BlindTransfer": lambda f, ts: BlindTransfer(
        ts,
        f.get("TransfererUniqueid", ""),
        f.get("TransfererLinkedid", ""),
        f.get("TransfereeUniqueid", ""),
        f.get("TransfereeLinkedid", ""),
        f.get("Extension", ""),
        f.get("Result", ""),
    ),
    "AttendedTransfer": lambda f, ts: AttendedTransfer(
        ts,
        f.get("OrigTransfererUniqueid", ""),
        f.get("OrigTransfererLinkedid", ""),
        f.get("SecondTransfererUniqueid", ""),
        f.get("SecondTransfererLinkedid", ""),
        f.get("TransfereeUniqueid", ""),
        f.get("TransfereeLinkedid", ""),
        f.get("TransferTargetUniqueid", ""),
        f.get("TransferTargetLinkedid", ""),
        f.get("Result", ""),
    ),
    "Pickup": lambda f, ts: Pickup(ts, *_chan(f), *_chan(f, "Target")),
    "VarSet": lambda f, ts: VarSet(ts, *_chan(f), f.get("Variable", ""), f.get("Value", "")),
    "OriginateResponse": lambda f, ts: OriginateResponse(
        ts,
        f.get("Uniqueid", ""),
        f.get("Channel", ""),
        f.get("Exten", ""),
        f.get("Context", ""),
        f.get("Response", ""),
        f.get("Reason", ""),
        f.get("ActionID", ""),
    ),
    "CoreShowChannel": lambda f, ts: CoreShowChannel(
        ts,
        *_chan(f),
        f.get("ChannelStateDesc", ""),
        _cid(f, "CallerIDNum"),
        _cid(f, "CallerIDName"),
        _cid(f, "ConnectedLineNum"),
        f.get("Context", ""),
        f.get("Exten", ""),
        f.get("Application", ""),
        _duration(f.get("Duration", "")),
        f.get("BridgeId", ""),
        f.get("ActionID", ""),
    ),
    "CoreShowChannelsComplete": lambda f, ts: CoreShowChannelsComplete(ts, f.get("ActionID", "")),
    "Status": lambda f, ts: ChannelStatus(
        ts,
        *_chan(f),
        f.get("ChannelStateDesc", ""),
        f.get("DNID", ""),
        f.get("BridgeID", ""),
        _seconds(f.get("Seconds", "")),
        _variables(f),
        f.get("ActionID", ""),
    ),
    "StatusComplete": lambda f, ts: StatusComplete(ts, f.get("ActionID", "")),
    "Shutdown": lambda f, ts: Shutdown(ts),
    "DeviceStateChange": lambda f, ts: DeviceStateChange(
        ts, f.get("Device", ""), f.get("State", ""), f.get("ActionID", "")
    ),
    "ExtensionStatus": lambda f, ts: ExtensionStatus(
        ts,
        f.get("Exten", ""),
        f.get("Context", ""),
        f.get("Hint", ""),
        f.get("Status", ""),
        f.get("StatusText", ""),
    ),
    "ContactStatus": lambda f, ts: ContactStatus(
        ts,
        f.get("AOR", ""),
        f.get("EndpointName", ""),
        f.get("URI", ""),
        f.get("ContactStatus", ""),
    ),
}

#: the events the domain consumes (calls; phones' device states for routing); the framer drops
#: the rest before decoding them. VarSet, the most frequent event of all, is let through only for
#: the variables we read (see ingest).
TRACKED_EVENTS: frozenset[str] = frozenset(_BUILDERS) - {"VarSet"}


def to_event(frame: Frame, received_at: float) -> AmiEvent | None:
    """The typed event for a frame, or None for events the domain does not use."""
    name = frame.get("Event")
    if name is None:
        return None
    build = _BUILDERS.get(name)
    if build is None:
        return None
    return build(frame, _ts(frame, received_at))
