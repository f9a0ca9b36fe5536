"""Webhook events and subscriptions: the types, deterministic event ids and the payloads sent
(`schemas/webhooks/<type>.json`, version 1). Pure: no database, no network."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cti.calls.model import CallRecord

#: version of every payload shape; a breaking change makes version 2 and new schema files
PAYLOAD_VERSION = 1
#: namespace of the deterministic event ids (uuid5 of "<type>:<natural key>")
_EVENT_NAMESPACE = uuid.UUID("6f0d5a8e-3c1b-4f5e-9a43-5d2c7b1e0c11")


class EventType(enum.StrEnum):
    CALL_RINGING = "call.ringing"  #: an agent's phone rings for a call (live)
    CALL_ANSWERED = "call.answered"  #: an agent answered a call (live)
    CALL_ENDED = "call.ended"  #: a call finished: the full call record (stored)
    CALL_MISSED = "call.missed"  #: an inbound call nobody answered (stored, with its callback)
    CALLBACK_RESOLVED = "callback.resolved"  #: a missed call was returned, or closed by hand
    CUSTOMER_CREATED = "customer.created"  #: a customer was created (API, CLI)
    CUSTOMER_UPDATED = "customer.updated"  #: a customer was changed (API, CLI)


EVENT_TYPES: tuple[str, ...] = tuple(e.value for e in EventType)


class DeliveryState(enum.StrEnum):
    PENDING = "pending"  #: waiting for its first or next attempt
    DELIVERED = "delivered"  #: the receiver answered 2xx
    FAILED = "failed"  #: still failing when the retry window closed; not tried again


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened, as it goes into the outbox."""

    id: str  #: unique; deterministic for stored facts, so a replay never enqueues twice
    type: EventType
    key: str  #: ordering key: events with the same key reach a receiver in order (a call)
    created_at: datetime
    data: dict[str, Any]

    def payload(self) -> dict[str, Any]:
        """The JSON body sent to receivers."""
        return {
            "id": self.id,
            "type": self.type.value,
            "version": PAYLOAD_VERSION,
            "created_at": _iso(self.created_at),
            "data": self.data,
        }


@dataclass(frozen=True, slots=True)
class Subscription:
    """A receiver: where to POST which events, and the secret that signs them."""

    id: int
    url: str
    events: tuple[str, ...]
    secret: str = field(repr=False)
    description: str = ""
    active: bool = True
    created_at: datetime | None = None
    created_by: str | None = None

    def wants(self, event_type: str) -> bool:
        return self.active and event_type in self.events

    def to_json(self) -> dict[str, Any]:
        """As listed: never the secret, only a hint of its last two characters."""
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "description": self.description,
            "active": self.active,
            "secret_hint": secret_hint(self.secret),
            "created_at": _iso(self.created_at) if self.created_at else None,
            "created_by": self.created_by,
        }


def secret_hint(secret: str) -> str:
    return "…" + secret[-2:] if len(secret) >= 8 else "…"


def event_id(kind: EventType, natural_key: str) -> str:
    """A stable id for a fact: the same call stored twice gives the same event id."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{kind.value}:{natural_key}"))


def parse_events(raw: str | Iterable[str]) -> tuple[str, ...]:
    """`call.missed,call.answered` (or a list) as known event types, in the canonical order;
    "*" or "all" means every event. Raises ValueError naming the unknown ones."""
    items = [p.strip() for p in (raw.split(",") if isinstance(raw, str) else raw)]
    items = [p for p in items if p]
    if not items:
        raise ValueError(f"name at least one event: {', '.join(EVENT_TYPES)}")
    if any(p in ("*", "all") for p in items):
        return EVENT_TYPES
    unknown = sorted(set(items) - set(EVENT_TYPES))
    if unknown:
        raise ValueError(f"unknown events {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}")
    return tuple(e for e in EVENT_TYPES if e in items)


# --- events from calls -----------------------------------------------------------------------


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def call_key(linkedid: str) -> str:
    return f"call:{linkedid}"


def call_live(
    kind: EventType, *, linkedid: str, agent: str, call: Mapping[str, Any], at: datetime, key: str
) -> Event:
    """call.ringing / call.answered from the live call (`CallService.snapshot`)."""
    customer = call.get("customer") or None
    data = {
        "linkedid": linkedid,
        "agent": agent,
        "direction": call.get("direction"),
        "caller": call.get("caller") or "",
        "caller_name": call.get("caller_name") or "",
        "did": call.get("did") or "",
        "started_at": call.get("started_at"),
        "answered_at": call.get("answered_at") if kind is EventType.CALL_ANSWERED else None,
        "customer_id": customer.get("customer_id") if isinstance(customer, Mapping) else None,
    }
    return Event(event_id(kind, f"{linkedid}:{key}"), kind, call_key(linkedid), at, data)


def call_ended(record: CallRecord, *, at: datetime, recording_url: str | None) -> Event:
    data = {"call": {**record.to_json(), "recording_url": recording_url}}
    return Event(
        event_id(EventType.CALL_ENDED, record.linkedid),
        EventType.CALL_ENDED,
        call_key(record.linkedid),
        at,
        data,
    )


def call_missed(view: Mapping[str, Any], *, at: datetime) -> Event:
    """From `cti.missed.views.missed_view`: the missed call and its callback."""
    linkedid = str(view["linkedid"])
    return Event(
        event_id(EventType.CALL_MISSED, linkedid),
        EventType.CALL_MISSED,
        call_key(linkedid),
        at,
        {"call": dict(view)},
    )


def callback_resolved(view: Mapping[str, Any], *, at: datetime) -> Event:
    """From `cti.missed.views.callback_view`. Ordered with the call that resolved it (its
    call.ended comes first), or on its own when closed by hand."""
    linkedid = view.get("resolving_linkedid")
    key = call_key(str(linkedid)) if linkedid else f"callback:{view['id']}"
    return Event(
        event_id(EventType.CALLBACK_RESOLVED, str(view["id"])),
        EventType.CALLBACK_RESOLVED,
        key,
        at,
        {"callback": dict(view)},
    )


def customer_changed(view: Mapping[str, Any], *, created: bool, at: datetime) -> Event:
    """From `CustomerService.view`; one event per write (ids are random: writes never replay)."""
    kind = EventType.CUSTOMER_CREATED if created else EventType.CUSTOMER_UPDATED
    return Event(str(uuid.uuid4()), kind, f"customer:{view['id']}", at, {"customer": dict(view)})


__all__ = [
    "EVENT_TYPES",
    "PAYLOAD_VERSION",
    "DeliveryState",
    "Event",
    "EventType",
    "Subscription",
    "call_ended",
    "call_live",
    "call_missed",
    "callback_resolved",
    "customer_changed",
    "event_id",
    "parse_events",
]
