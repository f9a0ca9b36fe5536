"""SPEC's definitions in one place: direction, outcome, missed kind, short abandon, wait and talk."""

from __future__ import annotations

import re
from dataclasses import replace

from cti.calls.endpoints import TrackingRules
from cti.calls.model import (
    Call,
    CallRecord,
    Direction,
    EndpointKind,
    MissedKind,
    OfferStatus,
    Outcome,
)
from cti.customers.numbers import normalize

_EXTERNAL = re.compile(r"\+?\d{5,}")


def final_direction(call: Call, rules: TrackingRules) -> Direction:
    """Inbound when a trunk came first; outbound when a trunk was dialled or an outside number
    was (click-to-call whose agent never picked up); otherwise internal."""
    if call.direction is not None:
        return call.direction
    if any(leg.kind is EndpointKind.TRUNK for leg in call.legs.values()):
        return Direction.OUTBOUND
    if call.did and _EXTERNAL.fullmatch(call.did) and not rules.is_extension(call.did):
        return Direction.OUTBOUND
    return Direction.INTERNAL


def missed_kind(call: Call) -> MissedKind:
    """SPEC order: abandoned, out_of_hours, no_agent, busy, no_answer."""
    if call.queue_abandoned or call.abandoned_while_ringing:
        return MissedKind.ABANDONED
    if call.out_of_hours:
        return MissedKind.OUT_OF_HOURS
    if not call.offers:
        return MissedKind.NO_AGENT
    if all(o.status is OfferStatus.BUSY for o in call.offers):
        return MissedKind.BUSY
    return MissedKind.NO_ANSWER


def agents_rung(call: Call, direction: Direction) -> tuple[str, ...]:
    """Offered agents in the order their phones were dialled; for outbound, who placed it."""
    if direction is Direction.OUTBOUND:
        return (call.originator,) if call.originator else ()
    seen: dict[str, None] = {}
    for offer in call.offers:
        seen.setdefault(offer.target, None)
    return tuple(seen)


def closed_line(record: CallRecord) -> CallRecord:
    """The record of a missed call that came while its line was closed (routing's decision said
    so): out_of_hours ranks after abandoned and before every other kind."""
    if record.outcome is not Outcome.MISSED or record.missed_kind is MissedKind.ABANDONED:
        return record
    return replace(record, missed_kind=MissedKind.OUT_OF_HOURS)


def _without_bridge_events(call: Call) -> Call:
    """A stream with no bridge events for this call (an AMI user without them, an old
    recording): the answer is the first DialEnd ANSWER or AgentConnect from the caller's side."""
    if call.answered_at is not None or call.bridged or not call.dial_answers:
        return call
    people: dict[str, None] = {}
    for _uid, who, _ts in call.dial_answers:
        people.setdefault(who, None)
    return replace(call, answered_at=call.dial_answers[0][2], answered_by=tuple(people))


def decide(call: Call, rules: TrackingRules) -> CallRecord:
    """The finished record of a call (its `ended_at` set, or the last event seen as the end)."""
    ended = call.ended_at if call.ended_at is not None else call.last_event_at
    ended = max(ended, call.started_at)
    direction = final_direction(call, rules)
    call = _without_bridge_events(call)
    answered = call.answered_at is not None and bool(call.answered_by)
    answered_at = call.answered_at if answered else None
    wait = (answered_at if answered_at is not None else ended) - call.started_at
    talk = ended - answered_at if answered_at is not None else 0.0
    kind: MissedKind | None = None
    if answered:
        outcome = Outcome.ANSWERED
    elif direction is Direction.INBOUND:
        outcome = Outcome.MISSED
        kind = missed_kind(call)
    else:
        outcome = Outcome.UNANSWERED
    hold = call.hold_seconds
    if call.hold_started_at is not None:
        hold += max(0.0, ended - call.hold_started_at)
    caller_e164 = None
    if direction is Direction.INBOUND:
        caller_e164 = normalize(call.caller, rules.default_region).e164
    return CallRecord(
        linkedid=call.linkedid,
        direction=direction,
        caller=call.caller,
        caller_e164=caller_e164,
        caller_name=call.caller_name,
        did=call.did,
        agents_rung=agents_rung(call, direction),
        answered_by=call.answered_by if answered else (),
        outcome=outcome,
        missed_kind=kind,
        short_abandon=kind is MissedKind.ABANDONED and wait <= rules.short_abandon_seconds,
        started_at=call.started_at,
        answered_at=answered_at,
        ended_at=ended,
        wait_seconds=max(0.0, wait),
        talk_seconds=max(0.0, talk),
        hold_seconds=hold,
        queue=call.queue,
        transferred=call.transferred,
        recording=call.recording,
        resynced=call.resynced,
        did_e164=normalize(call.did, rules.default_region).e164 if call.did else None,
    )
