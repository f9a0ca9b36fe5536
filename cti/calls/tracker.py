"""Live calls by Linkedid: routes events to calls, follows bridges across calls, resynchronizes."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from cti.ami import events as ev
from cti.calls import machine
from cti.calls.endpoints import TrackingRules
from cti.calls.machine import Effect, Finished, LegGone, PartyConnected
from cti.calls.model import Call, EndpointKind, Leg

log = logging.getLogger(__name__)

#: events that can only close something: never a reason to open a call we do not know
_CLOSING = (
    ev.Hangup,
    ev.DialEnd,
    ev.BridgeLeave,
    ev.QueueCallerLeave,
    ev.QueueCallerAbandon,
    ev.AgentComplete,
    ev.AgentRingNoAnswer,
    ev.Unhold,
)


@dataclass
class TrackerStats:
    events: int = 0
    calls_started: int = 0
    calls_finished: int = 0
    orphans: int = 0  #: events for calls we never saw start and cannot open (a lone Hangup)
    late: int = 0  #: events for calls already finished (duplicates after a reconnect)
    resyncs: int = 0
    ended_by_resync: int = 0  #: legs found gone after a reconnect
    absorbed: int = 0  #: helper calls folded into another (the *8 leg of a pickup)


@dataclass
class _Resync:
    live_before: set[str]
    seen: set[str] = field(default_factory=set)
    listed: set[str] = field(default_factory=set)


class CallTracker:
    """Holds every live call and turns each AMI event into effects. No I/O."""

    #: Linkedids of finished calls remembered to ignore their late events (which come within
    #: seconds): 20,000 is over 6 minutes at 50 calls/s, in ~3 MiB (100,000 cost ~15 MiB)
    FINISHED_MEMORY = 20_000

    def __init__(self, *, rules: TrackingRules, finished_memory: int = FINISHED_MEMORY) -> None:
        self.rules = rules
        self.calls: dict[str, Call] = {}
        self.stats = TrackerStats()
        self._leg_call: dict[str, str] = {}
        self._bridges: dict[str, set[str]] = {}
        self._leg_bridge: dict[str, str] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._finished_memory = finished_memory
        self._absorbed: set[str] = set()
        self._resync: _Resync | None = None

    # --- entry point ---------------------------------------------------------------------------

    def handle(self, event: ev.AmiEvent) -> list[Effect]:
        self.stats.events += 1
        if self._resync is not None and isinstance(event, ev.ChannelEvent):
            self._resync.seen.add(event.uniqueid)
        special = _SPECIAL.get(type(event))
        if special is not None:
            return special(self, event)
        if isinstance(event, ev.ChannelEvent):
            return self._route(event)
        return []

    def live_calls(self) -> list[Call]:
        return list(self.calls.values())

    def sweep(self, now: float, max_idle: float) -> list[Effect]:
        """Force-finish calls with no event for `max_idle` seconds (a Hangup we never got)."""
        effects: list[Effect] = []
        for linkedid, call in list(self.calls.items()):
            if now - call.last_event_at > max_idle:
                log.warning(
                    "call %s idle for %.0f s: closing it as of its last event",
                    linkedid,
                    now - call.last_event_at,
                )
                ended = replace(call, ended_at=call.last_event_at, resynced=True)
                effects.extend(self._done(linkedid, [Finished(machine.finish(ended, self.rules))]))
        return effects

    # --- routing -------------------------------------------------------------------------------

    def _route(self, event: ev.ChannelEvent, linkedid: str | None = None) -> list[Effect]:
        linkedid = linkedid or event.linkedid
        if not linkedid:
            linkedid = self._leg_call.get(event.uniqueid, "")
        if not linkedid:
            self.stats.orphans += 1
            return []
        effects: list[Effect] = []
        moved: Leg | None = None
        owner = self._leg_call.get(event.uniqueid) if event.uniqueid else None
        if owner is not None and owner != linkedid and owner in self.calls:
            moved = self.calls[owner].legs.get(event.uniqueid)
            effects.extend(self._migrate(event.uniqueid, owner, event.ts))
        call = self.calls.get(linkedid)
        if call is not None and moved is not None:
            arrival = ev.Newchannel(
                event.ts,
                moved.uniqueid,
                linkedid,
                moved.channel,
                "Up" if moved.up else "Ring",
                "",
                "",
                "",
                "",
            )
            effects.extend(self._apply(linkedid, call, arrival))
            call = self.calls.get(linkedid)
        if call is None:
            if linkedid in self._finished:
                self.stats.late += 1
                return effects
            if isinstance(event, _CLOSING) or not event.channel or not event.uniqueid:
                self.stats.orphans += 1
                return effects
            call = machine.start(event, self.rules)
            self.calls[linkedid] = call
            self._leg_call[event.uniqueid] = linkedid
            self.stats.calls_started += 1
            if isinstance(event, ev.Newchannel | ev.CoreShowChannel):
                return [*effects, machine.Changed(linkedid)]
        return effects + self._apply(linkedid, call, event)

    def _apply(self, linkedid: str, call: Call, event: machine.Event) -> list[Effect]:
        new, effects = machine.apply(call, event, self.rules)
        if new is not call:
            self.calls[linkedid] = new
            if len(new.legs) != len(call.legs):
                for uid in new.legs.keys() - call.legs.keys():
                    self._leg_call[uid] = linkedid
        if effects and isinstance(effects[-1], Finished):
            return self._done(linkedid, effects)
        return effects

    def _done(self, linkedid: str, effects: list[Effect]) -> list[Effect]:
        call = self.calls.pop(linkedid, None)
        if call is not None:
            for uid in call.legs:
                if self._leg_call.get(uid) == linkedid:
                    del self._leg_call[uid]
                    self._leave_bridge(uid)
        self._finished[linkedid] = None
        if len(self._finished) > self._finished_memory:
            self._finished.popitem(last=False)
        if linkedid in self._absorbed:
            self._absorbed.discard(linkedid)
            self.stats.absorbed += 1
            return [e for e in effects if not isinstance(e, Finished)]
        self.stats.calls_finished += 1
        return effects

    def _migrate(self, uniqueid: str, old: str, ts: float) -> list[Effect]:
        """Asterisk gave a bridged channel the older Linkedid: the leg moves to that call."""
        effects = self._apply(old, self.calls[old], LegGone(ts, uniqueid))
        if self._leg_call.get(uniqueid) == old:
            del self._leg_call[uniqueid]
        return effects

    # --- events that span calls ----------------------------------------------------------------

    def _dial(self, event: ev.DialBegin | ev.DialEnd) -> list[Effect]:
        # an Originate's first DialBegin has no Channel: the call is the destination's
        return self._route(event, event.linkedid or event.dest_linkedid)

    def _bridge_enter(self, event: ev.BridgeEnter) -> list[Effect]:
        effects = self._route(event)
        uid = event.uniqueid
        if uid not in self._leg_call:
            return effects
        self._leave_bridge(uid)
        members = self._bridges.setdefault(event.bridge_id, set())
        members.add(uid)
        self._leg_bridge[uid] = event.bridge_id
        for other in list(members):
            if other != uid:
                effects.extend(self._connect(uid, other, event.ts))
                effects.extend(self._connect(other, uid, event.ts))
        return effects

    def _connect(self, side: str, person: str, ts: float) -> list[Effect]:
        """`person` now talks with `side`: credit them to side's call if side is its customer."""
        side_call_id = self._leg_call.get(side)
        person_call_id = self._leg_call.get(person)
        if side_call_id is None or person_call_id is None:
            return []
        side_call = self.calls[side_call_id]
        side_leg = side_call.legs.get(side)
        person_leg = self.calls[person_call_id].legs.get(person)
        if side_leg is None or person_leg is None or person_leg.kind is not EndpointKind.AGENT:
            return []
        if side_leg.kind is not EndpointKind.TRUNK and side != side_call.caller_uniqueid:
            return []
        party = PartyConnected(ts, person, person_leg.endpoint)
        return self._apply(side_call_id, side_call, party)

    def _bridge_leave(self, event: ev.BridgeLeave) -> list[Effect]:
        effects = self._route(event)
        self._leave_bridge(event.uniqueid)
        return effects

    def _leave_bridge(self, uid: str) -> None:
        bridge = self._leg_bridge.pop(uid, None)
        if bridge is None:
            return
        members = self._bridges.get(bridge)
        if members is not None:
            members.discard(uid)
            if not members:
                del self._bridges[bridge]

    def _hangup(self, event: ev.Hangup) -> list[Effect]:
        effects = self._route(event)
        self._leave_bridge(event.uniqueid)
        return effects

    def _by_linkedid(self, linkedid: str, event: machine.Event) -> list[Effect]:
        call = self.calls.get(linkedid)
        if call is None:
            return []
        return self._apply(linkedid, call, event)

    def _blind_transfer(self, event: ev.BlindTransfer) -> list[Effect]:
        return self._by_linkedid(event.transferee_linkedid, event)

    def _attended_transfer(self, event: ev.AttendedTransfer) -> list[Effect]:
        return self._by_linkedid(event.transferee_linkedid, event)

    def _pickup(self, event: ev.Pickup) -> list[Effect]:
        if (
            event.linkedid
            and event.linkedid != event.target_linkedid
            and event.linkedid in self.calls
        ):
            # the picker's own short call (dialling *8) is part of the picked-up call
            self._absorbed.add(event.linkedid)
        return self._by_linkedid(event.target_linkedid, event)

    def _originate_response(self, event: ev.OriginateResponse) -> list[Effect]:
        return self._by_linkedid(self._leg_call.get(event.uniqueid, ""), event)

    # --- resynchronization after a reconnect ---------------------------------------------------

    def _session_started(self, event: ev.SessionStarted) -> list[Effect]:
        self.stats.resyncs += 1
        self._resync = _Resync(live_before=set(self.calls))
        return []

    def _core_show_channel(self, event: ev.CoreShowChannel) -> list[Effect]:
        if self._resync is None:
            return []
        self._resync.listed.add(event.uniqueid)
        effects: list[Effect] = []
        if event.uniqueid not in self._leg_call:
            effects = self._route(event)
        if event.bridge_id:
            effects.extend(
                self._bridge_enter(
                    ev.BridgeEnter(
                        event.ts, event.uniqueid, event.linkedid, event.channel, event.bridge_id
                    )
                )
            )
        return effects

    def _core_show_channels_complete(self, event: ev.CoreShowChannelsComplete) -> list[Effect]:
        resync, self._resync = self._resync, None
        if resync is None:
            return []
        effects: list[Effect] = []
        for linkedid in resync.live_before:
            call = self.calls.get(linkedid)
            if call is None:
                continue
            for uid, leg in call.legs.items():
                if _open(leg) and uid not in resync.listed and uid not in resync.seen:
                    self.stats.ended_by_resync += 1
                    effects.extend(self._by_linkedid(linkedid, LegGone(event.ts, uid)))
        return effects


def _open(leg: Leg) -> bool:
    return leg.hung_up_at is None


_SPECIAL: dict[type, Callable[..., list[Effect]]] = {
    ev.SessionStarted: CallTracker._session_started,
    ev.CoreShowChannel: CallTracker._core_show_channel,
    ev.CoreShowChannelsComplete: CallTracker._core_show_channels_complete,
    ev.DialBegin: CallTracker._dial,
    ev.DialEnd: CallTracker._dial,
    ev.BridgeEnter: CallTracker._bridge_enter,
    ev.BridgeLeave: CallTracker._bridge_leave,
    ev.Hangup: CallTracker._hangup,
    ev.BlindTransfer: CallTracker._blind_transfer,
    ev.AttendedTransfer: CallTracker._attended_transfer,
    ev.Pickup: CallTracker._pickup,
    ev.OriginateResponse: CallTracker._originate_response,
}
