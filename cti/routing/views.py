"""What the API and the CLI show of agents' states: one row per agent, and time per state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cti.calls.model import iso
from cti.routing.availability import Availability
from cti.routing.model import AgentProfile, AgentState, DeviceState, Presence, StateInterval


def state_row(
    agent: AgentProfile,
    *,
    presence: Presence | None,
    device: DeviceState | None,
    calls: int,
    verdict: Availability,
    default_state: AgentState,
    now: float,
) -> dict[str, Any]:
    """An agent's state now, the time in it, the phone, calls in progress, available or why not."""
    return {
        "login": agent.login,
        "name": agent.name,
        "state": (presence.state if presence else default_state).value,
        "reason": presence.reason if presence else "",
        "since": iso(presence.since) if presence else None,
        "seconds_in_state": round(now - presence.since, 1) if presence else None,
        "phone": device.value if device else DeviceState.UNKNOWN.value,
        "calls": calls,
        "available": verdict.available,
        "why_not": verdict.why or None,
    }


def state_history(
    login: str, intervals: Sequence[StateInterval], *, since: float, until: float, now: float
) -> dict[str, Any]:
    """The intervals (clipped to [since, until)) and the time spent per state and reason, most
    first: "how long was she at lunch". An interval still open counts up to `now`."""
    end = min(now, until)
    totals: dict[tuple[str, str], float] = {}
    for i in intervals:
        key = (i.state.value, i.reason)
        totals[key] = totals.get(key, 0.0) + i.seconds(end)
    return {
        "login": login,
        "since": iso(since),
        "until": iso(until),
        "intervals": [
            {
                "state": i.state.value,
                "reason": i.reason,
                "started_at": iso(i.started_at),
                "ended_at": iso(i.ended_at) if i.ended_at is not None else None,
                "seconds": round(i.seconds(end), 1),
                "actor": i.actor,
            }
            for i in intervals
        ],
        "totals": [
            {"state": state, "reason": reason, "seconds": round(seconds, 1)}
            for (state, reason), seconds in sorted(totals.items(), key=lambda kv: -kv[1])
        ],
    }
