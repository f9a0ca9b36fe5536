"""Is an agent available for a call now, and if not, why: pure, from state, phone and calls."""

from __future__ import annotations

from dataclasses import dataclass

from cti.routing.model import (
    OCCUPIED,
    UNREACHABLE,
    AgentProfile,
    AgentState,
    DeviceState,
    Presence,
)


@dataclass(frozen=True, slots=True)
class Availability:
    """The verdict for one agent; `code` is stable, `why` is English for people."""

    available: bool
    code: str  #: available, paused, dnd, offline, unreachable, at_limit, no_phone
    why: str = ""
    detail: str = ""  #: the pause reason, when paused
    calls: int = 0  #: calls in progress counted against the limit
    follow_me: bool = False  #: the agent is working: their mobile may ring instead


def assess(
    agent: AgentProfile,
    *,
    presence: Presence | None,
    device: DeviceState | None,
    calls: int,
    default_state: AgentState = AgentState.AVAILABLE,
) -> Availability:
    """SPEC: available means not paused, not DND, not logged out, the phone not known to be
    unreachable, and fewer calls in progress than the limit. An unknown phone state is tried.

    `calls` are the calls in progress the call tracker knows of; a phone that Asterisk says is
    in use counts as at least one, so a call the tracker cannot see still blocks a second.
    """
    state = presence.state if presence is not None else default_state
    who = agent.label
    if state is AgentState.OFFLINE:
        return Availability(False, "offline", f"{who} is offline")
    if state is AgentState.DND:
        return Availability(False, "dnd", f"{who} has do-not-disturb on")
    if state is AgentState.PAUSED:
        reason = presence.reason if presence is not None else ""
        why = f"{who} is away ({reason})" if reason else f"{who} is away"
        return Availability(False, "paused", why, detail=reason)
    in_progress = max(calls, 1 if device in OCCUPIED else 0)
    if in_progress >= max(agent.max_calls, 1):
        return Availability(
            False,
            "at_limit",
            f"{who} is busy ({in_progress} of {max(agent.max_calls, 1)} calls)",
            calls=in_progress,
        )
    if not agent.dial:
        return Availability(
            False, "no_phone", f"{who} has no phone configured", calls=in_progress, follow_me=True
        )
    if device in UNREACHABLE:
        return Availability(
            False,
            "unreachable",
            f"{who}'s phone {agent.dial} is unreachable",
            calls=in_progress,
            follow_me=True,
        )
    return Availability(True, "available", calls=in_progress, follow_me=True)
