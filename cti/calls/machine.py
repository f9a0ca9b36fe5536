"""The call state machine: a pure `apply(call, event) -> (call, effects)` and `finish(call)`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from cti.ami import events as ev
from cti.calls.endpoints import TrackingRules, dialled_number, interface_agent
from cti.calls.model import (
    Call,
    CallRecord,
    Direction,
    EndpointKind,
    Leg,
    MissedKind,
    Offer,
    OfferStatus,
    Outcome,
)
from cti.calls.outcome import decide

# --- events the tracker derives from the switch as a whole -------------------------------------


@dataclass(frozen=True, slots=True)
class PartyConnected:
    """A person's channel is connected with this call's customer side: in one bridge, or through
    a chain of bridges and Local channel pairs (the tracker follows them)."""

    ts: float
    uniqueid: str  #: the person's channel
    agent: str  #: their extension (or the external number for a trunk party)
    external: bool = False
    provisional: bool = False  #: found by a resync: `ts` is when we looked, not when they answered


@dataclass(frozen=True, slots=True)
class LegBridged:
    """One of the call's channels entered a bridge: this PBX reports bridges."""

    ts: float
    uniqueid: str


@dataclass(frozen=True, slots=True)
class LegGone:
    """A resynchronization found this leg no longer exists (it hung up while we were away), or
    Asterisk moved it to another call (`moved`)."""

    ts: float
    uniqueid: str
    moved: bool = False


# --- effects -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ringing:
    linkedid: str
    agent: str
    dest_uniqueid: str


@dataclass(frozen=True, slots=True)
class OfferEnded:
    linkedid: str
    agent: str
    status: OfferStatus


@dataclass(frozen=True, slots=True)
class Answered:
    linkedid: str
    agent: str


@dataclass(frozen=True, slots=True)
class Changed:
    linkedid: str


@dataclass(frozen=True, slots=True)
class Finished:
    record: CallRecord


Effect = Ringing | OfferEnded | Answered | Changed | Finished
Event = ev.AmiEvent | PartyConnected | LegBridged | LegGone

_DIAL_STATUS = {
    "ANSWER": OfferStatus.ANSWERED,
    "BUSY": OfferStatus.BUSY,
    "CONGESTION": OfferStatus.BUSY,
    "CHANUNAVAIL": OfferStatus.BUSY,
    "NOANSWER": OfferStatus.NO_ANSWER,
    "CANCEL": OfferStatus.CANCELLED,
}
_BUSY_CAUSES = {"17", "21", "34", "38", "41", "42"}
#: a CANCEL this close before the caller's hangup means the caller hung up on a ringing phone
CANCEL_TO_HANGUP_SECONDS = 2.0


def start(event: ev.ChannelEvent, rules: TrackingRules) -> Call:
    """A new call from its first channel (Newchannel, or any live event when we joined late)."""
    kind, endpoint = rules.classify(event.channel)
    caller_num = getattr(event, "caller_num", "")
    caller_name = getattr(event, "caller_name", "")
    exten = getattr(event, "exten", "")
    exten = "" if exten == "s" else exten
    call = Call(
        linkedid=event.linkedid,
        started_at=event.ts,
        caller_uniqueid=event.uniqueid,
        last_event_at=event.ts,
        resynced=not isinstance(event, ev.Newchannel),
    )
    if kind is EndpointKind.TRUNK:
        call = replace(
            call, direction=Direction.INBOUND, caller=caller_num, caller_name=caller_name, did=exten
        )
    elif kind is EndpointKind.AGENT:
        call = replace(
            call, originator=endpoint, caller=endpoint, caller_name=caller_name, did=exten
        )
    else:
        # placed by the PBX (Originate through a Local channel): the agent and the number it
        # dials tell who calls whom, not the Local channel's own extension
        call = replace(call, caller=caller_num, caller_name=caller_name)
    leg = Leg(event.uniqueid, event.channel, kind, endpoint, event.ts)
    if isinstance(event, ev.CoreShowChannel):
        leg = replace(leg, created_at=event.ts - event.duration, up=event.state == "Up")
        call = replace(call, started_at=leg.created_at)
    return replace(call, legs={event.uniqueid: leg})


def apply(call: Call, event: Event, rules: TrackingRules) -> tuple[Call, list[Effect]]:
    """The call after one event, and what the world should hear about it."""
    handler = _HANDLERS.get(type(event))
    if handler is None:
        return call, []
    ts = event.ts
    if ts > call.last_event_at:
        call = replace(call, last_event_at=ts)
    new, effects = handler(call, event, rules)
    if new.open_legs == 0 and new.legs and new.ended_at is None:
        new = replace(new, ended_at=ts)
        effects = [*effects, Finished(finish(new, rules))]
    return new, effects


def finish(call: Call, rules: TrackingRules) -> CallRecord:
    """The record of a call that has ended (or is forced to end): outcome decided by SPEC."""
    return decide(call, rules)


# --- handlers ------------------------------------------------------------------------------------


def _newchannel(call: Call, e: ev.Newchannel | ev.CoreShowChannel, rules: TrackingRules):
    if e.uniqueid in call.legs:
        return call, []  # a duplicate after a reconnect
    kind, endpoint = rules.classify(e.channel)
    created = e.ts - e.duration if isinstance(e, ev.CoreShowChannel) else e.ts
    leg = Leg(e.uniqueid, e.channel, kind, endpoint, created, up=e.state == "Up")
    call = replace(call, legs={**call.legs, e.uniqueid: leg})
    if kind is EndpointKind.TRUNK and call.direction is None:
        call = replace(call, direction=Direction.OUTBOUND)
    if isinstance(e, ev.CoreShowChannel):
        return _found_in_resync(call, e, leg, rules)
    return call, [Changed(call.linkedid)]


def _found_in_resync(call: Call, e: ev.CoreShowChannel, leg: Leg, rules: TrackingRules):
    """A channel a resync lists that we never saw dialled: an agent's phone (or a follow-me
    mobile) in an inbound call was offered it, ringing now or answered before we looked."""
    effects: list[Effect] = [Changed(call.linkedid)]
    if call.direction is not Direction.INBOUND or leg.uniqueid == call.caller_uniqueid:
        if call.direction is not Direction.INBOUND and leg.kind is EndpointKind.TRUNK:
            number = e.connected_num if e.caller_num == call.caller else e.caller_num
            if number and not call.did:
                call = replace(call, did=number)
        return call, effects
    if leg.kind is EndpointKind.AGENT:
        target = leg.endpoint
    elif leg.kind is EndpointKind.TRUNK and e.caller_num and e.caller_num != call.caller:
        target = e.caller_num
        call = replace(call, legs={**call.legs, leg.uniqueid: replace(leg, number=target)})
    else:
        return call, effects
    ringing = e.state in ("Ring", "Ringing")
    offer = Offer(
        target=target,
        dest_uniqueid=leg.uniqueid,
        began_at=leg.created_at,
        status=OfferStatus.RINGING if ringing else OfferStatus.ANSWERED,
    )
    call = replace(call, offers=(*call.offers, offer))
    if ringing:
        effects.insert(0, Ringing(call.linkedid, target, leg.uniqueid))
    return call, effects


def _newstate(call: Call, e: ev.Newstate, rules: TrackingRules):
    leg = call.legs.get(e.uniqueid)
    if leg is None:
        return _newchannel(call, _as_newchannel(e), rules)
    up = e.state == "Up"
    if leg.up == up:
        return call, []
    return replace(call, legs={**call.legs, e.uniqueid: replace(leg, up=up)}), []


def _as_newchannel(e: ev.Newstate) -> ev.Newchannel:
    return ev.Newchannel(
        e.ts, e.uniqueid, e.linkedid, e.channel, e.state, e.caller_num, e.caller_name, "", ""
    )


def _newcallerid(call: Call, e: ev.NewCallerid, rules: TrackingRules):
    if e.uniqueid != call.caller_uniqueid or call.direction is not Direction.INBOUND:
        return call, []
    return replace(
        call, caller=e.caller_num or call.caller, caller_name=e.caller_name or call.caller_name
    ), [Changed(call.linkedid)]


def _rename(call: Call, e: ev.Rename, rules: TrackingRules):
    leg = call.legs.get(e.uniqueid)
    if leg is None or not e.newname:
        return call, []
    kind, endpoint = rules.classify(e.newname)
    leg = replace(leg, channel=e.newname, kind=kind, endpoint=endpoint)
    return replace(call, legs={**call.legs, e.uniqueid: leg}), []


def _dial_begin(call: Call, e: ev.DialBegin, rules: TrackingRules):
    call = replace(call, cancel_pending_at=None)
    kind, endpoint = rules.classify(e.dest_channel)
    number = dialled_number(e.dest_exten, e.dial_string) if kind is EndpointKind.TRUNK else ""
    if e.dest_uniqueid and e.dest_uniqueid not in call.legs:
        leg = Leg(e.dest_uniqueid, e.dest_channel, kind, endpoint, e.ts, number=number)
        call = replace(call, legs={**call.legs, e.dest_uniqueid: leg})
    if any(o.dest_uniqueid == e.dest_uniqueid for o in call.offers):
        return call, []  # AgentCalled came first, or a duplicate
    if kind is EndpointKind.AGENT:
        if call.direction is not Direction.INBOUND:
            if call.originator is None and _placed_by_the_pbx(call, e):
                # Originate (click-to-call, "call me now"): the first agent's phone it rings,
                # before or after the outside number, is the agent who places the call
                call = replace(call, originator=endpoint, caller=endpoint)
                return call, [Changed(call.linkedid)]
            if endpoint == call.originator:
                return call, [Changed(call.linkedid)]
        return _offer(call, endpoint, e.dest_uniqueid, e.ts)
    if kind is EndpointKind.TRUNK:
        if call.direction is Direction.INBOUND:
            return _offer(call, number, e.dest_uniqueid, e.ts)  # follow-me to a mobile
        call = replace(call, direction=Direction.OUTBOUND)
        if not call.did:
            call = replace(call, did=number)
        return call, [Changed(call.linkedid)]
    return call, []


def recall(call: Call) -> list[Effect]:
    """The effects that bring a listener who never saw `call` to where it is now (a takeover:
    the pops, routing's and the webhooks' live views of the calls carried on from the former
    AMI consumer): its phones ringing now, the people who answered it."""
    effects: list[Effect] = [
        Ringing(call.linkedid, o.target, o.dest_uniqueid)
        for o in call.offers
        if o.status is OfferStatus.RINGING
    ]
    effects += [Answered(call.linkedid, agent) for agent in call.answered_by]
    return [*effects, Changed(call.linkedid)]


def _placed_by_the_pbx(call: Call, e: ev.DialBegin) -> bool:
    """No person started this call: an Originate's first dial (no Channel), or a call whose first
    channel is a Local channel (`Originate Local/101@from-internal`)."""
    if not e.channel:
        return True
    first = call.legs.get(call.caller_uniqueid or "")
    return first is not None and first.kind in (EndpointKind.LOCAL, EndpointKind.OTHER)


def _offer(call: Call, target: str, dest_uniqueid: str, ts: float):
    offer = Offer(target=target, dest_uniqueid=dest_uniqueid, began_at=ts)
    call = replace(call, offers=(*call.offers, offer))
    return call, [Ringing(call.linkedid, target, dest_uniqueid), Changed(call.linkedid)]


def _end_offer(call: Call, dest_uniqueid: str, status: OfferStatus, ts: float):
    for i, offer in enumerate(call.offers):
        if offer.dest_uniqueid == dest_uniqueid and offer.status is OfferStatus.RINGING:
            offers = list(call.offers)
            offers[i] = replace(offer, status=status, ended_at=ts)
            call = replace(call, offers=tuple(offers))
            return call, [OfferEnded(call.linkedid, offer.target, status)]
    return call, []


def _dial_end(call: Call, e: ev.DialEnd, rules: TrackingRules):
    status = _DIAL_STATUS.get(e.dial_status, OfferStatus.NO_ANSWER)
    call, effects = _end_offer(call, e.dest_uniqueid, status, e.ts)
    if status is OfferStatus.CANCELLED and call.answered_at is None:
        call = replace(call, cancel_pending_at=e.ts)
    if status is not OfferStatus.ANSWERED:
        return call, [*effects, Changed(call.linkedid)]
    # A phone picked up, but that is not yet a person talking to the caller (an accept prompt,
    # a mobile's voicemail behind a Local channel): the answer is the connection the tracker
    # sees in the bridges. Kept for a stream that reports no bridges at all.
    who = _direct_answer(call, e, rules)
    if who:
        call = replace(call, dial_answers=(*call.dial_answers, (e.dest_uniqueid, who, e.ts)))
    return call, [*effects, Changed(call.linkedid)]


def _direct_answer(call: Call, e: ev.DialEnd, rules: TrackingRules) -> str:
    """Who a DialEnd ANSWER connects when no bridge events exist: only a dial made by a person's
    own channel (never the inner half of a Local channel)."""
    if e.channel and rules.classify(e.channel)[0] is EndpointKind.LOCAL:
        return ""
    kind, endpoint = rules.classify(e.dest_channel)
    if kind is EndpointKind.AGENT:
        if call.direction is not Direction.INBOUND and endpoint == call.originator:
            return ""  # the agent picked up their own phone for a click-to-call
        return endpoint
    if kind is EndpointKind.TRUNK:
        if call.direction is Direction.INBOUND:
            return next((o.target for o in call.offers if o.dest_uniqueid == e.dest_uniqueid), "")
        return call.originator or ""
    return ""


def _answer(call: Call, agent: str, uniqueid: str, ts: float):
    agent = dict(call.pickups).get(uniqueid, agent)
    if not agent:
        return call, []  # nobody we can name: never a placeholder in a record
    effects: list[Effect] = []
    if call.answered_at is None:
        call = replace(call, answered_at=ts, cancel_pending_at=None)
    if uniqueid not in call.answered_legs:
        call = replace(call, answered_legs=(*call.answered_legs, uniqueid))
    if agent not in call.answered_by:
        call = replace(call, answered_by=(*call.answered_by, agent))
        effects.append(Answered(call.linkedid, agent))
    return call, [*effects, Changed(call.linkedid)]


def _party(call: Call, e: PartyConnected, rules: TrackingRules):
    first = call.answered_at is None
    call, effects = _answer(call, e.agent, e.uniqueid, e.ts)
    if first and call.answered_at is not None and e.provisional:
        call = replace(call, answer_provisional=True, resynced=True)
    call, ended = _end_offer(call, e.uniqueid, OfferStatus.ANSWERED, e.ts)
    return call, [*ended, *effects]


def _leg_bridged(call: Call, e: LegBridged, rules: TrackingRules):
    if call.bridged:
        return call, []
    return replace(call, bridged=True), []


def _hangup(call: Call, e: ev.Hangup, rules: TrackingRules):
    leg = call.legs.get(e.uniqueid)
    if leg is None or leg.hung_up_at is not None:
        return call, []
    call = replace(call, legs={**call.legs, e.uniqueid: replace(leg, hung_up_at=e.ts)})
    effects: list[Effect] = []
    if any(o.dest_uniqueid == e.uniqueid and o.status is OfferStatus.RINGING for o in call.offers):
        status = OfferStatus.BUSY if e.cause in _BUSY_CAUSES else OfferStatus.NO_ANSWER
        call, effects = _end_offer(call, e.uniqueid, status, e.ts)
    if e.uniqueid == call.caller_uniqueid and call.answered_at is None:
        ringing = any(_still_offered(call, o) for o in call.offers)
        cancelled = (
            call.cancel_pending_at is not None
            and e.ts - call.cancel_pending_at <= CANCEL_TO_HANGUP_SECONDS
        )
        if ringing or call.in_queue or cancelled:
            call = replace(call, abandoned_while_ringing=True)
    return call, [*effects, Changed(call.linkedid)]


def _still_offered(call: Call, offer: Offer) -> bool:
    """Still ringing, or picked up but not connected to the caller yet (an accept prompt on a
    mobile): a caller who hangs up now abandons the call."""
    if offer.status is OfferStatus.RINGING:
        return True
    leg = call.legs.get(offer.dest_uniqueid)
    return offer.status is OfferStatus.ANSWERED and leg is not None and leg.hung_up_at is None


def _leg_gone(call: Call, e: LegGone, rules: TrackingRules):
    leg = call.legs.get(e.uniqueid)
    if leg is None or leg.hung_up_at is not None:
        return call, []
    legs = {**call.legs, e.uniqueid: replace(leg, hung_up_at=e.ts, moved=e.moved)}
    offers = tuple(
        replace(o, status=OfferStatus.NO_ANSWER, ended_at=e.ts)
        if o.dest_uniqueid == e.uniqueid and o.status is OfferStatus.RINGING
        else o
        for o in call.offers
    )
    if e.moved:
        return replace(call, legs=legs, offers=offers), [Changed(call.linkedid)]
    return replace(call, legs=legs, offers=offers, resynced=True), [Changed(call.linkedid)]


def _agent_called(call: Call, e: ev.AgentCalled, rules: TrackingRules):
    agent = interface_agent(rules, e.interface) or rules.classify(e.dest_channel)[1]
    if any(o.dest_uniqueid == e.dest_uniqueid for o in call.offers):
        return call, []
    if e.dest_uniqueid and e.dest_uniqueid not in call.legs:
        kind, endpoint = rules.classify(e.dest_channel)
        leg = Leg(e.dest_uniqueid, e.dest_channel, kind, endpoint, e.ts)
        call = replace(call, legs={**call.legs, e.dest_uniqueid: leg})
    return _offer(call, agent, e.dest_uniqueid, e.ts)


def _agent_connect(call: Call, e: ev.AgentConnect, rules: TrackingRules):
    agent = interface_agent(rules, e.interface) or rules.classify(e.dest_channel)[1]
    call, effects = _end_offer(call, e.dest_uniqueid, OfferStatus.ANSWERED, e.ts)
    answers = (*call.dial_answers, (e.dest_uniqueid, agent, e.ts)) if agent else call.dial_answers
    # the member's channel is connected to the caller in the bridge that follows
    return replace(call, in_queue=False, dial_answers=answers), [*effects, Changed(call.linkedid)]


def _agent_ring_no_answer(call: Call, e: ev.AgentRingNoAnswer, rules: TrackingRules):
    return _end_offer(call, e.dest_uniqueid, OfferStatus.NO_ANSWER, e.ts)


def _queue_join(call: Call, e: ev.QueueCallerJoin, rules: TrackingRules):
    return replace(call, in_queue=True, queue=e.queue, cancel_pending_at=None), [
        Changed(call.linkedid)
    ]


def _queue_leave(call: Call, e: ev.QueueCallerLeave, rules: TrackingRules):
    return replace(call, in_queue=False), [Changed(call.linkedid)]


def _queue_abandon(call: Call, e: ev.QueueCallerAbandon, rules: TrackingRules):
    if call.answered_at is not None:
        return call, []
    return replace(call, queue_abandoned=True, queue=e.queue or call.queue), []


def _hold(call: Call, e: ev.Hold, rules: TrackingRules):
    if call.hold_started_at is not None:
        return call, []
    return replace(call, hold_started_at=e.ts), [Changed(call.linkedid)]


def _unhold(call: Call, e: ev.Unhold, rules: TrackingRules):
    if call.hold_started_at is None:
        return call, []
    held = max(0.0, e.ts - call.hold_started_at)
    return replace(call, hold_started_at=None, hold_seconds=call.hold_seconds + held), [
        Changed(call.linkedid)
    ]


def _transfer(call: Call, e: ev.BlindTransfer | ev.AttendedTransfer, rules: TrackingRules):
    if e.result and e.result != "Success":
        return call, []
    return replace(call, transferred=True), [Changed(call.linkedid)]


def _pickup(call: Call, e: ev.Pickup, rules: TrackingRules):
    kind, endpoint = rules.classify(e.channel)
    if kind is not EndpointKind.AGENT:
        return call, []
    return replace(call, pickups=(*call.pickups, (e.target_uniqueid, endpoint))), []


def _varset(call: Call, e: ev.VarSet, rules: TrackingRules):
    if e.variable in rules.recording_variables and e.value:
        return replace(call, recording=e.value), []
    if e.variable in rules.out_of_hours_variables and call.direction is Direction.INBOUND:
        closed = e.value.strip().lower() not in ("", "0", "no", "false")
        return replace(call, out_of_hours=closed), []
    if e.variable in rules.did_variables and e.value and call.direction is Direction.INBOUND:
        if e.uniqueid == call.caller_uniqueid:
            return replace(call, did=e.value), []
    return call, []


def _status(call: Call, e: ev.ChannelStatus, rules: TrackingRules):
    """Asterisk's own times and variables for a channel (the Status reply after a resync)."""
    leg = call.legs.get(e.uniqueid)
    if leg is None:
        return call, []
    start, answer = _epoch(e.variable("CDR(start,u)")), _epoch(e.variable("CDR(answer,u)"))
    if start and call.resynced:
        # joined late: Asterisk's own start times replace the ones guessed from Duration
        call = replace(call, legs={**call.legs, leg.uniqueid: replace(leg, created_at=start)})
        if leg.uniqueid == call.caller_uniqueid:
            call = replace(call, started_at=start)
        offers = tuple(
            replace(o, began_at=start) if o.dest_uniqueid == leg.uniqueid else o
            for o in call.offers
        )
        call = replace(call, offers=offers)
    if answer and call.answer_provisional and call.answered_legs[:1] == (leg.uniqueid,):
        call = replace(call, answered_at=max(answer, call.started_at), answer_provisional=False)
    if call.direction is Direction.INBOUND and leg.uniqueid == call.caller_uniqueid:
        call = _status_did(call, e, rules)
        closed = next((e.variable(v.lstrip("_")) for v in rules.out_of_hours_variables), "")
        if closed.strip().lower() not in ("", "0", "no", "false"):
            call = replace(call, out_of_hours=True)
    return call, [Changed(call.linkedid)]


def _status_did(call: Call, e: ev.ChannelStatus, rules: TrackingRules) -> Call:
    if call.did and call.did != "s":
        return call
    for name in rules.did_variables:
        value = e.variable(name.lstrip("_"))
        if value:
            return replace(call, did=value)
    return replace(call, did=e.dnid) if e.dnid else call


def _epoch(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value > 0 else None


def _originate_response(call: Call, e: ev.OriginateResponse, rules: TrackingRules):
    if call.did or not e.exten or e.exten == "s":
        return call, []
    return replace(call, did=e.exten), [Changed(call.linkedid)]


_HANDLERS: dict[type, Callable[..., tuple[Call, list[Effect]]]] = {
    ev.Newchannel: _newchannel,
    ev.CoreShowChannel: _newchannel,
    ev.Newstate: _newstate,
    ev.NewCallerid: _newcallerid,
    ev.Rename: _rename,
    ev.DialBegin: _dial_begin,
    ev.DialEnd: _dial_end,
    ev.Hangup: _hangup,
    ev.AgentCalled: _agent_called,
    ev.AgentConnect: _agent_connect,
    ev.AgentRingNoAnswer: _agent_ring_no_answer,
    ev.QueueCallerJoin: _queue_join,
    ev.QueueCallerLeave: _queue_leave,
    ev.QueueCallerAbandon: _queue_abandon,
    ev.Hold: _hold,
    ev.Unhold: _unhold,
    ev.BlindTransfer: _transfer,
    ev.AttendedTransfer: _transfer,
    ev.Pickup: _pickup,
    ev.VarSet: _varset,
    ev.OriginateResponse: _originate_response,
    ev.ChannelStatus: _status,
    PartyConnected: _party,
    LegBridged: _leg_bridged,
    LegGone: _leg_gone,
}

__all__ = [
    "Answered",
    "Changed",
    "Effect",
    "Finished",
    "LegBridged",
    "LegGone",
    "MissedKind",
    "OfferEnded",
    "Outcome",
    "PartyConnected",
    "Ringing",
    "apply",
    "finish",
    "start",
]
