"""The call as the domain sees it: one conversation attempt per Linkedid, and its finished record."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class Direction(enum.StrEnum):
    INBOUND = "inbound"  #: the first channel is a trunk: a customer called in
    OUTBOUND = "outbound"  #: an agent (or click-to-call) dialled an external number
    INTERNAL = "internal"  #: agent to agent, no trunk involved


class Outcome(enum.StrEnum):
    ANSWERED = (
        "answered"  #: a person answered (an agent, or the external party of an outbound call)
    )
    MISSED = "missed"  #: inbound and no agent answered
    UNANSWERED = "unanswered"  #: outbound or internal and nobody answered


class MissedKind(enum.StrEnum):
    ABANDONED = "abandoned"  #: the caller hung up while a phone rang or while queued
    OUT_OF_HOURS = "out_of_hours"  #: the line was closed (routing or the dialplan says so)
    NO_AGENT = "no_agent"  #: the line was open but no agent was offered the call
    BUSY = "busy"  #: every offer ended busy, congestion or unavailable
    NO_ANSWER = "no_answer"  #: offers rang out


class EndpointKind(enum.StrEnum):
    TRUNK = "trunk"  #: a line to the outside world
    AGENT = "agent"  #: an agent's phone
    LOCAL = "local"  #: a Local channel half: dialplan plumbing, never a person by itself
    OTHER = "other"  #: anything else Asterisk creates (Message/, Surrogate/, ...)


class OfferStatus(enum.StrEnum):
    RINGING = "ringing"  #: dialled, no DialEnd yet
    ANSWERED = "answered"  #: DialEnd ANSWER or AgentConnect
    BUSY = "busy"  #: BUSY, CONGESTION, CHANUNAVAIL and the like
    NO_ANSWER = "no_answer"  #: NOANSWER, or a queue member's RingNoAnswer
    CANCELLED = "cancelled"  #: CANCEL: the caller side stopped dialling


@dataclass(frozen=True, slots=True)
class Leg:
    """One channel of a call."""

    uniqueid: str
    channel: str
    kind: EndpointKind
    endpoint: str  #: the endpoint (PJSIP/101 -> "101"); the agent's extension for agent phones
    created_at: float
    up: bool = False
    hung_up_at: float | None = None
    number: str = ""  #: the number a trunk leg dialled (a follow-me mobile, the outside party)
    moved: bool = False  #: it left this call for another (Asterisk re-linked it), not hung up


@dataclass(frozen=True, slots=True)
class Offer:
    """One ring of one agent's phone (or one external number) for a call."""

    target: str  #: agent extension, or the dialled number for an external target
    dest_uniqueid: str
    began_at: float
    status: OfferStatus = OfferStatus.RINGING
    ended_at: float | None = None


@dataclass(frozen=True, slots=True)
class Call:
    """The live state of one call, changed only by `cti.calls.machine.apply`."""

    linkedid: str
    started_at: float
    direction: Direction | None = None  #: None until a trunk leg or the dialled number tells
    caller: str = ""  #: caller ID number as the PBX gave it (agent extension for outbound/internal)
    caller_name: str = ""
    did: str = ""  #: dialled number: the DID for inbound, the number called for outbound/internal
    originator: str | None = None  #: the agent extension that placed an outbound/internal call
    caller_uniqueid: str | None = None  #: the first channel: the customer side of an inbound call
    legs: dict[str, Leg] = field(default_factory=dict)
    offers: tuple[Offer, ...] = ()
    answered_by: tuple[str, ...] = ()
    answered_at: float | None = None
    in_queue: bool = False
    queue: str | None = None
    queue_abandoned: bool = False
    abandoned_while_ringing: bool = False
    cancel_pending_at: float | None = None
    hold_started_at: float | None = None
    hold_seconds: float = 0.0
    out_of_hours: bool = False  #: the dialplan marked the call as outside business hours
    transferred: bool = False
    pickups: tuple[tuple[str, str], ...] = ()  #: (ringing leg uniqueid, agent who picked it up)
    answered_legs: tuple[str, ...] = ()  #: the channels of the people connected, in order
    bridged: bool = False  #: one of its channels entered a bridge (Asterisk reports bridges)
    #: dials answered straight from the customer's side, (uniqueid, who, when): the answer when
    #: the stream has no bridge events at all (an AMI user without them, an old recording)
    dial_answers: tuple[tuple[str, str, float], ...] = ()
    answer_provisional: bool = False  #: answered_at is when a resync found the call connected
    recording: str | None = None
    resynced: bool = False  #: part of what we know came from a resynchronization after a reconnect
    last_event_at: float = 0.0
    ended_at: float | None = None

    @property
    def open_legs(self) -> int:
        return sum(1 for leg in self.legs.values() if leg.hung_up_at is None)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A finished call: what `cti replay`, `cti calls` and the database hold."""

    linkedid: str
    direction: Direction
    caller: str
    caller_e164: str | None
    caller_name: str
    did: str
    agents_rung: tuple[str, ...]
    answered_by: tuple[str, ...]
    outcome: Outcome
    missed_kind: MissedKind | None
    short_abandon: bool
    started_at: float
    answered_at: float | None
    ended_at: float
    wait_seconds: float
    talk_seconds: float
    hold_seconds: float = 0.0
    queue: str | None = None
    transferred: bool = False
    recording: str | None = None
    resynced: bool = False
    did_e164: str | None = None  #: the dialled number in E.164 (the customer, for outbound calls)
    customer_id: int | None = None  #: the customer matched at ring time (caller, or number dialled)
    route_kind: str | None = None  #: routing step that reached the answering agent (or the first)
    route_reason: str | None = None  #: that step's reason, e.g. "account manager of ACME LLC"
    fallback: bool | None = None  #: True when that step was not the first of the decision

    def to_json(self) -> dict[str, Any]:
        """The replay/`cti calls --json` line; timestamps as ISO 8601 UTC."""
        return {
            "linkedid": self.linkedid,
            "direction": self.direction.value,
            "caller": self.caller,
            "caller_e164": self.caller_e164,
            "caller_name": self.caller_name,
            "did": self.did,
            "agents_rung": list(self.agents_rung),
            "answered_by": list(self.answered_by),
            "outcome": self.outcome.value,
            "missed_kind": self.missed_kind.value if self.missed_kind else None,
            "short_abandon": self.short_abandon,
            "started_at": iso(self.started_at),
            "answered_at": iso(self.answered_at) if self.answered_at is not None else None,
            "ended_at": iso(self.ended_at),
            "wait_seconds": round(self.wait_seconds, 3),
            "talk_seconds": round(self.talk_seconds, 3),
            "hold_seconds": round(self.hold_seconds, 3),
            "queue": self.queue,
            "transferred": self.transferred,
            "recording": self.recording,
            "resynced": self.resynced,
            "did_e164": self.did_e164,
            "customer_id": self.customer_id,
            "route_kind": self.route_kind,
            "route_reason": self.route_reason,
            "fallback": self.fallback,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallRecord:
        return cls(
            linkedid=data["linkedid"],
            direction=Direction(data["direction"]),
            caller=data["caller"],
            caller_e164=data.get("caller_e164"),
            caller_name=data.get("caller_name", ""),
            did=data.get("did", ""),
            agents_rung=tuple(data.get("agents_rung", ())),
            answered_by=tuple(data.get("answered_by", ())),
            outcome=Outcome(data["outcome"]),
            missed_kind=MissedKind(data["missed_kind"]) if data.get("missed_kind") else None,
            short_abandon=bool(data.get("short_abandon", False)),
            started_at=epoch(data["started_at"]),
            answered_at=epoch(data["answered_at"]) if data.get("answered_at") else None,
            ended_at=epoch(data["ended_at"]),
            wait_seconds=float(data["wait_seconds"]),
            talk_seconds=float(data["talk_seconds"]),
            hold_seconds=float(data.get("hold_seconds", 0.0)),
            queue=data.get("queue"),
            transferred=bool(data.get("transferred", False)),
            recording=data.get("recording"),
            resynced=bool(data.get("resynced", False)),
            did_e164=data.get("did_e164"),
            customer_id=data.get("customer_id"),
            route_kind=data.get("route_kind"),
            route_reason=data.get("route_reason"),
            fallback=data.get("fallback"),
        )


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch(value: str | float) -> float:
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
