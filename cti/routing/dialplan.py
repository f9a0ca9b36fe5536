"""The channel variables a routing decision gives the dialplan (FastAGI and CURL alike)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol
from urllib.parse import quote

from cti.routing.fastagi import AgiHandler, AgiRequest
from cti.routing.model import RouteDecision


class Decide(Protocol):
    def __call__(self, caller: str, did: str, *, key: str | None) -> Awaitable[RouteDecision]: ...


#: longest value sent: Asterisk's AGI command buffer is 2 KiB, a reason never needs more
MAX_VALUE = 400


def _clean(value: str) -> str:
    """One line, bounded: a value never breaks the AGI line protocol or the dialplan."""
    flat = " ".join(value.replace("\r", " ").replace("\n", " ").split())
    return flat[:MAX_VALUE]


def decision_variables(decision: RouteDecision) -> dict[str, str]:
    """CTI_TARGET_n / CTI_TIMEOUT_n / CTI_REASON_n / CTI_KIND_n for n = 1..count, whether the
    line is closed (CTI_OUT_OF_HOURS, CTI_CLOSED_REASON, CTI_ANNOUNCEMENT), the customer, and
    CTI_TARGET_COUNT last: a dialplan that sees the count has every target."""
    out: dict[str, str] = {}
    for n, target in enumerate(decision.targets, start=1):
        out[f"CTI_TARGET_{n}"] = _clean(target.dial)
        out[f"CTI_TIMEOUT_{n}"] = str(target.timeout)
        out[f"CTI_REASON_{n}"] = _clean(target.reason)
        out[f"CTI_KIND_{n}"] = target.kind.value
    customer = decision.customer
    # the call tracker reads CTI_OUT_OF_HOURS from the channel: the miss is out_of_hours even
    # on a node that never saw this decision (a standby, a replay); set only when closed, so a
    # dialplan's own mark is never cleared
    if decision.closed:
        out["CTI_OUT_OF_HOURS"] = "1"
        out["CTI_CLOSED_REASON"] = _clean(decision.closed_reason)
        out["CTI_ANNOUNCEMENT"] = _clean(decision.announcement)
    out["CTI_CUSTOMER_ID"] = customer.id if customer else ""
    out["CTI_CUSTOMER_NAME"] = _clean(customer.name) if customer else ""
    out["CTI_TARGET_COUNT"] = str(len(decision.targets))
    return out


def hash_body(variables: dict[str, str]) -> str:
    """`key=value&...`, percent-encoded: what CURLOPT(hashcompat)=yes turns into a HASH()."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in variables.items())


#: what Asterisk puts in agi_callerid / agi_dnid when there is nothing
_NOTHING = frozenset({"", "unknown", "s"})


def caller_and_did(request: AgiRequest) -> tuple[str, str, str]:
    """(caller, DID, key) of an AGI request: `AGI(agi://host/route,CALLER,DID,LINKEDID)`, each
    argument optional; without them the caller ID, the extension (or DNID) and the Uniqueid."""
    env = request.env
    caller = request.arg(1) or request.query.get("caller", "")
    if not caller and env.get("agi_callerid", "").lower() not in _NOTHING:
        caller = env["agi_callerid"]
    did = request.arg(2) or request.query.get("did", "")
    if not did:
        for name in ("agi_extension", "agi_dnid"):
            if env.get(name, "").lower() not in _NOTHING:
                did = env[name]
                break
    key = request.arg(3) or request.query.get("linkedid", "") or request.uniqueid
    return caller, did, key


def agi_route(decide: Decide) -> AgiHandler:
    """The `route` FastAGI script: decide, then hand the dialplan its variables."""

    async def route(request: AgiRequest) -> dict[str, str]:
        caller, did, key = caller_and_did(request)
        return decision_variables(await decide(caller, did, key=key or None))

    return route
