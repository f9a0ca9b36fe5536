"""What-if overrides for `cti route --state LOGIN=STATE`: pretend an agent is somewhere else."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from cti.routing.model import AgentState, DeviceState, Presence
from cti.routing.policy import Situation

#: pretend states beyond the agent's own: phone unreachable, at the call limit, idle and free
PHONE_STATES = ("unreachable", "busy", "free")


class BadOverride(ValueError):
    """An override that cannot be read; the message shows how to write one."""


@dataclass(frozen=True, slots=True)
class Override:
    login: str
    state: str  #: an AgentState value or one of PHONE_STATES
    reason: str = ""


def parse_override(text: str) -> Override:
    """`ivanova=paused:lunch`, `petrov=offline`, `sidorova=busy`, `kozlov=unreachable`."""
    login, sep, rest = text.partition("=")
    state, _, reason = rest.partition(":")
    login, state = login.strip(), state.strip().lower()
    known = [s.value for s in AgentState] + list(PHONE_STATES)
    if not sep or not login or state not in known:
        raise BadOverride(
            f"--state {text!r}: write LOGIN=STATE[:REASON] with STATE one of {', '.join(known)}"
        )
    return Override(login, state, reason.strip())


def apply_overrides(
    situation: Situation, overrides: Iterable[Override], *, now: float
) -> Situation:
    """The situation with each override applied; unknown logins are refused."""
    presence = dict(situation.presence)
    devices = dict(situation.devices)
    calls = dict(situation.calls)
    for o in overrides:
        agent = situation.agents.get(o.login)
        if agent is None:
            raise BadOverride(f"--state {o.login}=...: no agent with login {o.login!r}")
        if o.state == "unreachable":
            devices[o.login] = DeviceState.UNAVAILABLE
        elif o.state == "busy":
            calls[o.login] = max(agent.max_calls, 1)
        elif o.state == "free":
            devices[o.login] = DeviceState.NOT_INUSE
            calls[o.login] = 0
        else:
            presence[o.login] = Presence(AgentState(o.state), o.reason, now)
    return replace(situation, presence=presence, devices=devices, calls=calls)
