"""Which step of a routing decision a finished call reached: "why you", and fallbacks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cti.routing.model import AgentProfile, RouteDecision, Target, TargetKind


@dataclass(frozen=True, slots=True)
class RouteOutcome:
    kind: str
    reason: str
    fallback: bool  #: the call did not reach the caller's first choice (see route_outcome)


def _endpoint(dial: str) -> str:
    """`PJSIP/101` -> `101`, `Local/79161234567@cti-followme` -> `79161234567`."""
    rest = dial.partition("/")[2] or dial
    return rest.split("@", 1)[0].split("&", 1)[0]


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _matches(target: Target, who: str, agents: Mapping[str, AgentProfile]) -> bool:
    if target.kind is TargetKind.VOICEMAIL:
        return False
    if target.kind is TargetKind.MANAGER_MOBILE:
        mine, theirs = _digits(_endpoint(target.dial)), _digits(who)
        return len(theirs) >= 7 and mine.endswith(theirs[-10:])
    agent = agents.get(target.agent or "")
    names = {_endpoint(target.dial)}
    if agent is not None and agent.extension:
        names.add(agent.extension)
    return who in names


def _step(
    decision: RouteDecision, people: Sequence[str], agents: Mapping[str, AgentProfile]
) -> int | None:
    for who in people:
        for index, target in enumerate(decision.targets):
            if _matches(target, who, agents):
                return index
    return None


def route_outcome(
    decision: RouteDecision,
    *,
    answered_by: Sequence[str],
    agents_rung: Sequence[str],
    agents: Mapping[str, AgentProfile],
) -> RouteOutcome | None:
    """The step of the person who answered; if nobody did, the last step whose phone rang; if
    none rang, the first step. `answered_by`/`agents_rung` are extensions (or numbers).

    It is a fallback when it is not the decision's first target, or when an earlier step of the
    chain was skipped (the manager was at lunch, so the duty operator took the call)."""
    if not decision.targets:
        return None
    index = _step(decision, answered_by, agents)
    if index is None:
        index = _step(decision, list(reversed(agents_rung)), agents)
    if index is None:
        index = 0
    target = decision.targets[index]
    rank = _CHAIN.index(target.kind)
    skipped = any(r.code != "chosen" and _CHAIN.index(r.step) < rank for r in decision.reasons)
    return RouteOutcome(target.kind.value, target.reason, index > 0 or skipped)


#: the steps in chain order
_CHAIN = list(TargetKind)
