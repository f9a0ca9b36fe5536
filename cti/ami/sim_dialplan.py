"""Dialplan steps of the simulated PBX (routing, Dial, answer, hang-ups, prompts) in Asterisk 22 event order."""

from __future__ import annotations

from cti.ami.sim_pbx import AGENT_NAMES, DOWN, RING, RINGING, TRUNK, UP, Bridge, Channel, Pbx

DIAL_VARIABLES = ("DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME", "ANSWEREDTIME", "DIALEDTIME")


class Dialplan:
    """High-level telephony steps; each emits what Asterisk emits for it."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx

    # ----- channels entering the PBX ----------------------------------------------------------

    def inbound(self, *, caller: str, caller_name: str, did: str, uniqueid: str) -> Channel:
        """A PSTN call arrives on the trunk for `did` (capture 01)."""
        pbx = self.pbx
        ch = pbx.new_channel(
            pbx.pjsip_name(TRUNK),
            state=RING,
            cid_num=caller,
            cid_name=caller_name or caller,
            context="from-trunk",
            exten=did,
            uniqueid=uniqueid,
        )
        pbx.var_set(ch, "SIPDOMAIN", "127.0.0.1")
        return ch

    def phone_call(self, ext: str, exten: str, *, uniqueid: str | None = None) -> Channel:
        """An agent's phone dials `exten` (capture 18): a new channel with its own Linkedid."""
        pbx = self.pbx
        ch = pbx.new_channel(
            pbx.pjsip_name(ext),
            state=RING,
            cid_num=ext,
            cid_name=AGENT_NAMES.get(ext, ext),
            context="from-internal",
            exten=exten,
            uniqueid=uniqueid,
        )
        pbx.var_set(ch, "SIPDOMAIN", "127.0.0.1")
        return ch

    def route(self, ch: Channel, target: str) -> None:
        """The inbound dialplan asks FastAGI where to go (capture 12), then jumps to the route."""
        pbx, caller, did = self.pbx, ch.cid_num, ch.exten
        pbx.new_exten(ch, "NoOp", f"Inbound call from {caller} to DID {did}", priority=1)
        pbx.new_exten(ch, "Set", f"CTI_DID={did}", priority=2)
        pbx.var_set(ch, "CTI_DID", did)
        pbx.new_exten(ch, "Set", f"__CTI_CALLER={caller}", priority=3)
        pbx.var_set(ch, "__CTI_CALLER", caller)
        pbx.new_exten(ch, "AGI", f"agi://127.0.0.1:4573/route,{caller},{did}", priority=4)
        pbx.var_set(ch, "CTI_TARGET", target)
        pbx.var_set(ch, "AGISTATUS", "SUCCESS")
        pbx.new_exten(ch, "Goto", "inbound-route,s,1", priority=5)
        pbx.new_exten(
            ch,
            "NoOp",
            f"Routing {caller} -> {target}",
            context="inbound-route",
            exten="s",
            priority=1,
        )

    # ----- Dial ---------------------------------------------------------------------------------

    def dial_app(self, ch: Channel, data: str, *, priority: int | None = None) -> None:
        self.pbx.new_exten(ch, "Dial", data, priority=priority)
        for variable in DIAL_VARIABLES:
            self.pbx.var_set(ch, variable, "")

    def dial(
        self, caller: Channel | None, ext: str, *, app: str = "AppDial", dialstring: str = ""
    ) -> Channel:
        """The agent's phone gets an outgoing channel (Down) and DialBegin; it is not ringing yet."""
        pbx = self.pbx
        linkedid = caller.linkedid if caller is not None else None
        dest = pbx.new_channel(
            pbx.pjsip_name(ext),
            state=DOWN,
            cid_num=ext,
            cid_name=AGENT_NAMES.get(ext, ext),
            context="from-internal",
            exten="s",
            linkedid=linkedid,
        )
        pbx.var_set(dest, "DIALEDPEERNUMBER", ext)
        pbx.new_exten(dest, app, "(Outgoing Line)")
        if caller is not None:
            pbx.new_connected_line(dest, caller.cid_num, caller.cid_name)
        pbx.dial_begin(caller, dest, dialstring or ext)
        if caller is not None:
            pbx.new_connected_line(caller, ext, AGENT_NAMES.get(ext, ext))
        return dest

    def ring(self, caller: Channel | None, dest: Channel) -> None:
        self.pbx.new_state(dest, RINGING)
        if caller is not None:
            self.pbx.var_set(caller, "RINGTIME", "0")
        self.pbx.dial_state(caller, dest)

    def answer(self, caller: Channel, dest: Channel) -> Bridge:
        """The dialled phone answers: DialEnd ANSWER, the caller goes Up, both enter a bridge."""
        pbx = self.pbx
        pbx.new_state(dest, UP)
        pbx.var_set(caller, "DIALSTATUS", "ANSWER")
        pbx.var_set(caller, "DIALEDPEERNAME", dest.name)
        dest.exten = ""
        pbx.dial_end(caller, dest, "ANSWER")
        if caller.state != UP:
            pbx.new_state(caller, UP)
        return self.bridge(dest, caller)

    def bridge(self, first: Channel, second: Channel) -> Bridge:
        pbx = self.pbx
        bridge = pbx.bridge_create()
        pbx.bridge_enter(bridge, first)
        pbx.bridge_enter(bridge, second)
        pbx.var_set(second, "BRIDGEPEER", first.name)
        pbx.var_set(first, "BRIDGEPEER", second.name)
        return bridge

    def dial_failed(self, caller: Channel, dest: Channel, status: str) -> None:
        """The dialled phone rang out (NOANSWER, capture 02) or refused (BUSY); it hangs up later."""
        self.pbx.dial_end(caller, dest, status)
        self.pbx.var_set(caller, "DIALSTATUS", status)

    def next_attempt(self, ch: Channel, label: str, status: str) -> None:
        self.pbx.new_exten(ch, "NoOp", f"{label}: DIALSTATUS={status}", priority=ch.priority + 1)
        self.pbx.new_exten(ch, "GotoIf", "0?done", priority=ch.priority + 1)

    # ----- endings ------------------------------------------------------------------------------

    def caller_cancels(self, caller: Channel, ringing: list[Channel]) -> None:
        """The caller hangs up while phones ring: DialEnd CANCEL, both legs Cause 127 (capture 03)."""
        pbx = self.pbx
        pbx.hangup_request(caller, 127)
        for dest in ringing:
            pbx.dial_end(caller, dest, "CANCEL")
        pbx.var_set(caller, "DIALSTATUS", "CANCEL")
        pbx.hangup_request(caller, 16, soft=True)
        pbx.cdr(
            caller, dest=ringing[0] if ringing else None, answered_at=None, disposition="NO ANSWER"
        )
        pbx.hangup(caller, 127)
        for dest in ringing:
            pbx.hangup(dest, 127)

    def hang_up_bridged(
        self,
        leaving: Channel,
        other: Channel,
        bridge: Bridge,
        *,
        first: Channel,
        answered_at: float,
    ) -> None:
        """`leaving` hangs up a bridged call; `other` follows (capture 01). `first` owns the CDR."""
        pbx = self.pbx
        pbx.hangup_request(leaving, 16)
        pbx.var_set(leaving, "BRIDGEPEER", "")
        pbx.bridge_leave(bridge, leaving)
        pbx.var_set(first, "ANSWEREDTIME", str(int(pbx.clock.now - answered_at)))
        pbx.hangup_request(leaving, 16, soft=True)
        pbx.bridge_leave(bridge, other)
        pbx.bridge_destroy(bridge)
        dest = other if first is leaving else leaving
        pbx.cdr(first, dest=dest, answered_at=answered_at, disposition="ANSWERED")
        pbx.hangup(leaving, 16)
        pbx.hangup(other, 16)

    def play_prompt(self, ch: Channel, app: str, data: str) -> None:
        """The dialplan answers the caller itself (not a person) and runs `app`: voicemail, announcement."""
        pbx = self.pbx
        if ch.state != UP:
            pbx.new_exten(ch, "Answer", "", priority=ch.priority + 1)
            pbx.new_state(ch, UP)
        pbx.new_exten(ch, app, data, priority=ch.priority + 1)

    def caller_hangs_up_alone(
        self, ch: Channel, *, answered_at: float | None, cause: int = 16
    ) -> None:
        pbx = self.pbx
        pbx.hangup_request(ch, cause)
        pbx.hangup_request(ch, cause, soft=True)
        disposition = "ANSWERED" if answered_at is not None else "NO ANSWER"
        pbx.cdr(ch, dest=None, answered_at=answered_at, disposition=disposition)
        pbx.hangup(ch, cause)

    def dialplan_hangs_up(self, ch: Channel, *, answered_at: float | None) -> None:
        pbx = self.pbx
        pbx.new_exten(ch, "Hangup", "", priority=ch.priority + 1)
        pbx.hangup_request(ch, 16, soft=True)
        pbx.cdr(ch, dest=None, answered_at=answered_at, disposition="ANSWERED")
        pbx.hangup(ch, 16)
