"""Live calls by Linkedid: routes events to calls, follows bridges across calls, resynchronizes."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from cti.ami import events as ev
from cti.calls import machine
from cti.calls.connections import Switch
from cti.calls.endpoints import TrackingRules
from cti.calls.machine import Effect, Finished, LegBridged, LegGone, PartyConnected
from cti.calls.model import Call, Direction, EndpointKind, Leg

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
    no_linkedid: int = 0  #: channel events without a Linkedid (Asterisk 11 and older)


@dataclass
class _Resync:
    live_before: set[str]
    seen: set[str] = field(default_factory=set)
    listed: set[str] = field(default_factory=set)
    items: list[ev.CoreShowChannel] = field(default_factory=list)


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
        self.switch = Switch()
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._finished_memory = finished_memory
        self._absorbed: set[str] = set()
        self._resync: _Resync | None = None
        #: calls opened by an event other than their first channel's Newchannel (a part of the
        #: stream we missed, or junk) that no resync has listed since: unconfirmed
        self._unconfirmed: set[str] = set()
        #: agent endpoint -> the live calls with an open leg on it (routing counts an agent's
        #: calls from it: a scan of every live call per routing decision grew with their number)
        self.agent_calls: dict[str, set[str]] = {}

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

    def adopt(self, calls: Iterable[Call]) -> list[Call]:
        """Carry on from the live calls another AMI consumer tracked (a takeover): the resync
        that follows ends those whose channels are gone, as of the resync, and keeps the others
        with all they went through. Calls already tracked here are kept as they are; returns
        the calls adopted."""
        adopted: list[Call] = []
        for call in calls:
            if call.linkedid in self.calls or call.linkedid in self._finished:
                continue
            self.calls[call.linkedid] = call
            self._index_agents(call.linkedid, None, call)
            for uid, leg in call.legs.items():
                if not leg.moved:
                    self._leg_call.setdefault(uid, call.linkedid)
                    self.switch.add_channel(uid, leg.channel)
            adopted.append(call)
        return adopted

    def sweep(
        self, now: float, max_idle: float, phantom_max_idle: float | None = None
    ) -> list[Effect]:
        """Force-finish calls with no event for `max_idle` seconds (a Hangup we never got), and
        phantom calls (see `is_phantom`) with no event for `phantom_max_idle` seconds: each is
        closed as of its last event, flagged `resynced`."""
        effects: list[Effect] = []
        for linkedid, call in list(self.calls.items()):
            idle = now - call.last_event_at
            limit = max_idle
            if phantom_max_idle is not None and self.is_phantom(linkedid):
                limit = min(max_idle, phantom_max_idle)
            if idle > limit:
                log.warning(
                    "%s %s idle for %.0f s: closing it as of its last event",
                    "phantom call" if limit < max_idle else "call",
                    linkedid,
                    idle,
                )
                ended = replace(call, ended_at=call.last_event_at, resynced=True)
                effects.extend(self._done(linkedid, [Finished(machine.finish(ended, self.rules))]))
        return effects

    def is_phantom(self, linkedid: str) -> bool:
        """A call nobody has shown to exist: cti never saw its first channel created nor a resync
        list it, and no person is connected in it (not answered, never bridged)."""
        call = self.calls.get(linkedid)
        return (
            call is not None
            and linkedid in self._unconfirmed
            and call.answered_at is None
            and not call.bridged
        )

    # --- routing -------------------------------------------------------------------------------

    def _route(self, event: ev.ChannelEvent, linkedid: str | None = None) -> list[Effect]:
        linkedid = linkedid or event.linkedid
        if not linkedid:
            linkedid = self._leg_call.get(event.uniqueid, "")
        if not linkedid:
            self.stats.orphans += 1
            if event.uniqueid:
                self.stats.no_linkedid += 1
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
            self._index_agents(linkedid, None, call)
            if not isinstance(event, ev.Newchannel | ev.CoreShowChannel):
                self._unconfirmed.add(linkedid)
            self._leg_call[event.uniqueid] = linkedid
            self.switch.add_channel(event.uniqueid, event.channel)
            self.stats.calls_started += 1
            if isinstance(event, ev.Newchannel | ev.CoreShowChannel):
                return [*effects, machine.Changed(linkedid)]
        return effects + self._apply(linkedid, call, event)

    def _apply(self, linkedid: str, call: Call, event: machine.Event) -> list[Effect]:
        new, effects = machine.apply(call, event, self.rules)
        if new is not call:
            self.calls[linkedid] = new
            if new.legs is not call.legs:
                self._index_agents(linkedid, call, new)
            if len(new.legs) != len(call.legs):
                for uid in new.legs.keys() - call.legs.keys():
                    self._leg_call[uid] = linkedid
                    self.switch.add_channel(uid, new.legs[uid].channel)
        if effects and isinstance(effects[-1], Finished):
            return self._done(linkedid, effects)
        return effects

    def _done(self, linkedid: str, effects: list[Effect]) -> list[Effect]:
        call = self.calls.pop(linkedid, None)
        self._unconfirmed.discard(linkedid)
        if call is not None:
            self._index_agents(linkedid, call, None)
            for uid in call.legs:
                if self._leg_call.get(uid) == linkedid:
                    del self._leg_call[uid]
                    self.switch.remove_channel(uid)
        self._finished[linkedid] = None
        if len(self._finished) > self._finished_memory:
            self._finished.popitem(last=False)
        if call is not None and _folded_into_another(call):
            self._absorbed.add(linkedid)  # a pickup's or a parked call's retriever, say
        if linkedid in self._absorbed:
            self._absorbed.discard(linkedid)
            self.stats.absorbed += 1
            return [e for e in effects if not isinstance(e, Finished)]
        self.stats.calls_finished += 1
        return effects

    def _index_agents(self, linkedid: str, old: Call | None, new: Call | None) -> None:
        before = _agent_endpoints(old) if old is not None else frozenset()
        after = _agent_endpoints(new) if new is not None else frozenset()
        for endpoint in before - after:
            calls = self.agent_calls.get(endpoint)
            if calls is not None:
                calls.discard(linkedid)
                if not calls:
                    del self.agent_calls[endpoint]
        for endpoint in after - before:
            self.agent_calls.setdefault(endpoint, set()).add(linkedid)

    def _migrate(self, uniqueid: str, old: str, ts: float) -> list[Effect]:
        """Asterisk gave a bridged channel the older Linkedid: the leg moves to that call."""
        effects = self._apply(old, self.calls[old], LegGone(ts, uniqueid, moved=True))
        if self._leg_call.get(uniqueid) == old:
            del self._leg_call[uniqueid]
        return effects

    # --- events that span calls ----------------------------------------------------------------

    def _dial(self, event: ev.DialBegin | ev.DialEnd) -> list[Effect]:
        linkedid = event.linkedid or event.dest_linkedid
        owner = self._leg_call.get(event.dest_uniqueid)
        if isinstance(event, ev.DialBegin) and owner is not None and owner != linkedid:
            # a "dial" toward a channel that already lives in another call: the phone picking
            # up a ringing call (Asterisk 13+ reports it so), not a phone this call rang
            return []
        # an Originate's first DialBegin has no Channel: the call is the destination's
        return self._route(event, linkedid)

    def _bridge_enter(self, event: ev.BridgeEnter, *, provisional: bool = False) -> list[Effect]:
        effects = self._route(event)
        uid = event.uniqueid
        call_id = self._leg_call.get(uid)
        if call_id is None:
            return effects
        effects.extend(self._apply(call_id, self.calls[call_id], LegBridged(event.ts, uid)))
        self.switch.enter(uid, event.bridge_id)
        return effects + self._connect(uid, event.ts, provisional)

    def _connect(self, uid: str, ts: float, provisional: bool) -> list[Effect]:
        """Everyone now connected with `uid` (bridges and Local pairs, however deep): each call
        whose customer side is among them is answered by the people among them."""
        group = self.switch.connected(uid)
        if len(group) < 2:
            return []
        effects: list[Effect] = []
        for call_id in {self._leg_call[u] for u in group if u in self._leg_call}:
            call = self.calls.get(call_id)
            if call is None:
                continue
            sides = _customer_side(call)
            if not sides & group:
                continue
            for person in sorted(group - sides, key=self._leg_age):
                who = self._person(call, person)
                if who is None or person in call.answered_legs:
                    continue
                party = PartyConnected(ts, person, who, provisional=provisional)
                effects.extend(self._apply(call_id, call, party))
                call = self.calls.get(call_id)
                if call is None:
                    break
        return effects

    def _leg_age(self, uid: str) -> float:
        call = self.calls.get(self._leg_call.get(uid, ""))
        leg = call.legs.get(uid) if call is not None else None
        return leg.created_at if leg is not None else 0.0

    def _person(self, call: Call, uid: str) -> str | None:
        """Who `uid` is for `call`: an agent's extension, the number a trunk leg reached."""
        owner = self.calls.get(self._leg_call.get(uid, ""))
        leg = owner.legs.get(uid) if owner is not None else None
        if leg is None or leg.hung_up_at is not None:
            return None
        direction = call.direction
        if leg.kind is EndpointKind.AGENT:
            if direction is not Direction.INBOUND and _has_trunk(call):
                return leg.endpoint  # outbound: the agent (who placed it, or took it over)
            if direction is not Direction.INBOUND and leg.endpoint == call.originator:
                return None  # internal: the caller is not their own answer
            return leg.endpoint
        if leg.kind is EndpointKind.TRUNK and direction is Direction.INBOUND:
            offered = next((o.target for o in call.offers if o.dest_uniqueid == uid), "")
            return offered or leg.number or None
        return None

    def _bridge_leave(self, event: ev.BridgeLeave) -> list[Effect]:
        effects = self._route(event)
        self.switch.leave(event.uniqueid)
        return effects

    def _hangup(self, event: ev.Hangup) -> list[Effect]:
        effects = self._route(event)
        self.switch.leave(event.uniqueid)
        return effects

    def _by_linkedid(self, linkedid: str, event: machine.Event) -> list[Effect]:
        call = self.calls.get(linkedid)
        if call is None:
            return []
        return self._apply(linkedid, call, event)

    def _blind_transfer(self, event: ev.BlindTransfer) -> list[Effect]:
        for linkedid in (event.transferee_linkedid, event.transferer_linkedid):
            if linkedid in self.calls:
                return self._by_linkedid(linkedid, event)
        return []

    def _attended_transfer(self, event: ev.AttendedTransfer) -> list[Effect]:
        # Transferee* is absent when the first bridge held only the transferer (an internal
        # call whose caller is the one transferring, say): the call is then the transferer's
        for linkedid in (
            event.transferee_linkedid,
            event.orig_transferer_linkedid,
            event.second_transferer_linkedid,
        ):
            if linkedid in self.calls:
                return self._by_linkedid(linkedid, event)
        return []

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
        self._resync.items.append(event)  # taken in together once the list is complete
        return []

    def _core_show_channels_complete(self, event: ev.CoreShowChannelsComplete) -> list[Effect]:
        resync, self._resync = self._resync, None
        if resync is None:
            return []
        effects = self._take_in(resync.items)
        if self._unconfirmed:
            for uid in resync.listed:  # Asterisk has the channel: the call is real
                self._unconfirmed.discard(self._leg_call.get(uid, ""))
        for linkedid in resync.live_before:
            call = self.calls.get(linkedid)
            if call is None:
                continue
            for uid, leg in call.legs.items():
                if _open(leg) and uid not in resync.listed and uid not in resync.seen:
                    self.stats.ended_by_resync += 1
                    effects.extend(self._by_linkedid(linkedid, LegGone(event.ts, uid)))
        return effects

    def _take_in(self, items: list[ev.CoreShowChannel]) -> list[Effect]:
        """The live channels a resync lists, in the order that rebuilds each call right: its
        originating channel first (Uniqueid == Linkedid; else its oldest), then the others,
        then the bridges (Asterisk lists channels in no particular order)."""
        effects: list[Effect] = []
        ordered = sorted(items, key=lambda e: (e.uniqueid != e.linkedid, -e.duration))
        for item in ordered:
            if item.uniqueid not in self._leg_call:
                effects.extend(self._route(item))
        for item in ordered:
            if item.bridge_id and self.switch.bridge_of(item.uniqueid) != item.bridge_id:
                enter = ev.BridgeEnter(
                    item.ts, item.uniqueid, item.linkedid, item.channel, item.bridge_id
                )
                effects.extend(self._bridge_enter(enter, provisional=True))
        return effects

    def _status(self, event: ev.ChannelStatus) -> list[Effect]:
        linkedid = self._leg_call.get(event.uniqueid, "")
        return self._by_linkedid(linkedid, event) if linkedid else []


def _open(leg: Leg) -> bool:
    return leg.hung_up_at is None


def agent_calls_of(calls: Iterable[Call]) -> dict[str, set[str]]:
    """Agent endpoint -> the calls with an open leg on it: what `CallTracker.agent_calls` keeps
    up to date event by event, computed from scratch."""
    index: dict[str, set[str]] = {}
    for call in calls:
        for endpoint in _agent_endpoints(call):
            index.setdefault(endpoint, set()).add(call.linkedid)
    return index


def _agent_endpoints(call: Call) -> frozenset[str]:
    """The agents' phones a call has an open leg on."""
    return frozenset(
        leg.endpoint
        for leg in call.legs.values()
        if leg.kind is EndpointKind.AGENT and leg.hung_up_at is None
    )


def _has_trunk(call: Call) -> bool:
    return any(leg.kind is EndpointKind.TRUNK for leg in call.legs.values())


def _customer_side(call: Call) -> set[str]:
    """The channels whose connection to a person answers the call: the caller of an inbound
    call; the outside party of an outbound one; the agent who placed an internal one."""
    if call.direction is Direction.INBOUND:
        return {call.caller_uniqueid} if call.caller_uniqueid else set()
    trunks = {u for u, leg in call.legs.items() if leg.kind is EndpointKind.TRUNK and _open(leg)}
    if trunks:
        return trunks
    return {
        u
        for u, leg in call.legs.items()
        if leg.kind is EndpointKind.AGENT and leg.endpoint == call.originator and _open(leg)
    }


def _folded_into_another(call: Call) -> bool:
    """Every channel of the call went over to another call and nobody was offered it: the short
    call of a phone that picked up (or retrieved) someone else's call is part of that call."""
    legs = call.legs.values()
    return bool(call.legs) and not call.offers and all(leg.moved for leg in legs)


_SPECIAL: dict[type, Callable[..., list[Effect]]] = {
    ev.SessionStarted: CallTracker._session_started,
    ev.CoreShowChannel: CallTracker._core_show_channel,
    ev.CoreShowChannelsComplete: CallTracker._core_show_channels_complete,
    ev.ChannelStatus: CallTracker._status,
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
