"""AMI events of the simulated PBX's features: queues, hold, transfers, Local channels, pickup, Originate."""

from __future__ import annotations

from cti.ami.sim_pbx import AGENT_NAMES, Bridge, Channel, Fields, Pbx

QUEUE_APP_DATA = "support,t,,,60"


# ----- app_queue -------------------------------------------------------------------------------


def queue_caller_join(pbx: Pbx, caller: Channel, queue: str, *, position: int, count: int) -> None:
    extra = [("Queue", queue), ("Position", str(position)), ("Count", str(count))]
    pbx.channel_event("QueueCallerJoin", caller, extra, "agent,all")


def queue_caller_leave(pbx: Pbx, caller: Channel, queue: str, *, position: int, count: int) -> None:
    extra = [("Queue", queue), ("Position", str(position)), ("Count", str(count))]
    pbx.channel_event("QueueCallerLeave", caller, extra, "agent,all")


def queue_caller_abandon(pbx: Pbx, caller: Channel, queue: str, *, hold_time: int) -> None:
    extra = [
        ("Queue", queue),
        ("Position", "1"),
        ("OriginalPosition", "1"),
        ("HoldTime", str(hold_time)),
    ]
    pbx.channel_event("QueueCallerAbandon", caller, extra, "agent,all")


def _member(queue: str, ext: str) -> Fields:
    return [
        ("Queue", queue),
        ("Interface", f"PJSIP/{ext}"),
        ("MemberName", AGENT_NAMES.get(ext, ext)),
    ]


def agent_called(pbx: Pbx, caller: Channel, dest: Channel, queue: str, ext: str) -> None:
    fields = caller.snapshot() + dest.snapshot("Dest") + _member(queue, ext)
    pbx.event("AgentCalled", "agent,all", fields)


def agent_connect(
    pbx: Pbx,
    caller: Channel,
    dest: Channel,
    queue: str,
    ext: str,
    *,
    hold_time: int,
    ring_time: int,
) -> None:
    timing = [("HoldTime", str(hold_time)), ("RingTime", str(ring_time))]
    fields = caller.snapshot() + dest.snapshot("Dest") + _member(queue, ext) + timing
    pbx.event("AgentConnect", "agent,all", fields)


def agent_complete(
    pbx: Pbx,
    caller: Channel,
    dest: Channel,
    queue: str,
    ext: str,
    *,
    hold_time: int,
    talk_time: int,
) -> None:
    timing = [("HoldTime", str(hold_time)), ("TalkTime", str(talk_time)), ("Reason", "caller")]
    fields = caller.snapshot() + dest.snapshot("Dest") + _member(queue, ext) + timing
    pbx.event("AgentComplete", "agent,all", fields)


def queue_member_status(pbx: Pbx, queue: str, ext: str, *, status: int, in_call: bool) -> None:
    fields = [
        ("Queue", queue),
        ("MemberName", AGENT_NAMES.get(ext, ext)),
        ("Interface", f"PJSIP/{ext}"),
        ("StateInterface", f"PJSIP/{ext}"),
        ("Membership", "static"),
        ("Penalty", "0"),
        ("CallsTaken", "0"),
        ("LastCall", "0"),
        ("LastPause", "0"),
        ("LoginTime", str(int(pbx.clock.now) - 3600)),
        ("InCall", "1" if in_call else "0"),
        ("Status", str(status)),
        ("Paused", "0"),
        ("PausedReason", ""),
        ("Ringinuse", "0"),
        ("Wrapuptime", "0"),
    ]
    pbx.event("QueueMemberStatus", "agent,all", fields)


# ----- music on hold and hold ----------------------------------------------------------------


def music_on_hold(pbx: Pbx, ch: Channel, *, start: bool) -> None:
    if start:
        pbx.channel_event("MusicOnHoldStart", ch, [("Class", "default")])
    else:
        pbx.channel_event("MusicOnHoldStop", ch)


def hold(pbx: Pbx, ch: Channel) -> None:
    pbx.channel_event("Hold", ch, [("MusicClass", "")])


# ----- transfers and Local channels ------------------------------------------------------------


def blind_transfer(
    pbx: Pbx, transferer: Channel, transferee: Channel, bridge: Bridge, *, context: str, exten: str
) -> None:
    fields = (
        [("Result", "Success")]
        + transferer.snapshot("Transferer")
        + transferee.snapshot("Transferee")
        + bridge.snapshot()
        + [("IsExternal", "Yes"), ("Context", context), ("Extension", exten)]
    )
    pbx.event("BlindTransfer", "call,all", fields)


def attended_transfer_fields(
    *,
    orig: Channel,
    orig_bridge: Bridge,
    second: Channel,
    second_bridge: Bridge,
    transferee: Channel,
    target: Channel,
    dest_bridge: Bridge,
) -> Fields:
    """The AttendedTransfer body, snapshotted before the channels move (as Asterisk does)."""
    return (
        [("Result", "Success")]
        + orig.snapshot("OrigTransferer")
        + orig_bridge.snapshot("Orig")
        + second.snapshot("SecondTransferer")
        + second_bridge.snapshot("Second")
        + transferee.snapshot("Transferee")
        + target.snapshot("TransferTarget")
        + [
            ("IsExternal", "Yes"),
            ("DestType", "Bridge"),
            ("DestBridgeUniqueid", dest_bridge.uniqueid),
        ]
    )


def local_bridge(pbx: Pbx, one: Channel, two: Channel) -> None:
    fields = (
        one.snapshot("LocalOne")
        + two.snapshot("LocalTwo")
        + [("Context", two.context), ("Exten", two.exten), ("LocalOptimization", "Yes")]
    )
    pbx.event("LocalBridge", "call,all", fields)


def local_optimization(
    pbx: Pbx, one: Channel, two: Channel, *, source: Channel | None, dest_uniqueid: str, op_id: int
) -> None:
    """LocalOptimizationBegin when `source` is given, else LocalOptimizationEnd."""
    fields = one.snapshot("LocalOne") + two.snapshot("LocalTwo")
    if source is not None:
        fields += source.snapshot("Source") + [("DestUniqueId", dest_uniqueid), ("Id", str(op_id))]
        pbx.event("LocalOptimizationBegin", "call,all", fields)
    else:
        pbx.event(
            "LocalOptimizationEnd", "call,all", fields + [("Success", "Yes"), ("Id", str(op_id))]
        )


# ----- pickup and Originate ------------------------------------------------------------------


def pickup(pbx: Pbx, picker: Fields, target: Fields) -> None:
    """`Pickup`, from snapshots taken before the masquerade swapped the two channels' identities."""
    pbx.event("Pickup", "call,all", picker + target)


def originate_response(
    pbx: Pbx,
    ch: Channel,
    *,
    action_id: str | None,
    context: str,
    exten: str,
    cid_num: str,
    cid_name: str,
) -> None:
    fields = [("ActionID", action_id)] if action_id else []
    fields += [
        ("Response", "Success"),
        ("Channel", ch.name),
        ("Context", context),
        ("Exten", exten),
        ("Reason", "4"),
        ("Uniqueid", ch.uniqueid),
        ("CallerIDNum", cid_num),
        ("CallerIDName", cid_name),
    ]
    pbx.event("OriginateResponse", "call,all", fields)
