"""A live call as JSON and back, whole (every leg, offer and answer), for the next AMI consumer
to carry on from (`cti.cluster.handover`). Unlike the board's snapshot it loses nothing the call
machine reads; fields added later read as their defaults from an older process's JSON."""

from __future__ import annotations

import dataclasses
from typing import Any

from cti.calls.model import Call, Direction, EndpointKind, Leg, Offer, OfferStatus

VERSION = 1

_TUPLES = ("answered_by", "answered_legs")
_PAIRS = ("pickups", "dial_answers")


def call_to_json(call: Call) -> dict[str, Any]:
    data = dataclasses.asdict(call)  # StrEnums stay str; tuples become lists in JSON
    data["v"] = VERSION
    return data


def call_from_json(data: dict[str, Any]) -> Call:
    """Raises ValueError, KeyError or TypeError on JSON that is not a call of this version."""
    if data.get("v") != VERSION:
        raise ValueError(f"call JSON version {data.get('v')!r}, expected {VERSION}")
    known = {f.name for f in dataclasses.fields(Call)}
    values = {k: v for k, v in data.items() if k in known}
    values["direction"] = Direction(data["direction"]) if data.get("direction") else None
    values["legs"] = {str(uid): _leg(leg) for uid, leg in (data.get("legs") or {}).items()}
    values["offers"] = tuple(_offer(o) for o in data.get("offers") or ())
    for name in _TUPLES:
        values[name] = tuple(str(x) for x in data.get(name) or ())
    for name in _PAIRS:
        values[name] = tuple(tuple(x) for x in data.get(name) or ())
    return Call(**values)


def _leg(data: dict[str, Any]) -> Leg:
    known = {f.name for f in dataclasses.fields(Leg)}
    values = {k: v for k, v in data.items() if k in known}
    values["kind"] = EndpointKind(data["kind"])
    return Leg(**values)


def _offer(data: dict[str, Any]) -> Offer:
    known = {f.name for f in dataclasses.fields(Offer)}
    values = {k: v for k, v in data.items() if k in known}
    values["status"] = OfferStatus(data["status"])
    return Offer(**values)


__all__ = ["call_from_json", "call_to_json"]
