"""Pure authorization rules: who may see which call, pop, callback and figures, who may configure.

Agents see what they are part of; supervisors and administrators see everything; only
administrators change configuration. Every rule takes the server-side `Principal`: nothing the
client sends (a login in a query, a filter in a websocket message) widens what it gets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cti.auth.principal import Principal, Role, Scope

#: directions in which the `caller` of a call is one of our agents (the one who placed it)
_PLACED_BY_AGENT = frozenset({"outbound", "internal"})


class Denied(Exception):
    """The principal may not do this; the message says what was refused (no HTTP code here)."""


def sees_everything(principal: Principal) -> bool:
    """Supervisors and administrators see every call, callback and figure."""
    return principal.role in (Role.SUPERVISOR, Role.ADMIN)


def may_use(principal: Principal, scope: Scope) -> bool:
    """The credential carries `scope`, and `admin` only counts for administrators."""
    if scope not in principal.scopes:
        return False
    return scope is not Scope.ADMIN or principal.role is Role.ADMIN


def may_change_configuration(principal: Principal) -> bool:
    """Agents, extensions, routing rules, schedules, PBX connection: administrators only."""
    return may_use(principal, Scope.ADMIN)


def call_parties(call: Mapping[str, Any]) -> frozenset[str]:
    """The agents' extensions a call involves: rung, ringing, answering or placing it.

    Works on a live call (`agents_ringing`) and on a finished one (`agents_rung`).
    """
    parties: set[str] = set()
    for key in ("agents_ringing", "agents_rung", "answered_by"):
        value = call.get(key)
        if isinstance(value, list | tuple):
            parties.update(str(v) for v in value)
    caller = call.get("caller")
    if call.get("direction") in _PLACED_BY_AGENT and isinstance(caller, str) and caller:
        parties.add(caller)
    parties.discard("")
    return frozenset(parties)


def may_see_call(principal: Principal, call: Mapping[str, Any]) -> bool:
    if sees_everything(principal):
        return True
    return bool(principal.extensions & call_parties(call))


def visible_extensions(principal: Principal) -> frozenset[str] | None:
    """None: every call; otherwise only calls involving one of these extensions."""
    return None if sees_everything(principal) else principal.extensions


def may_see_agent_data(principal: Principal, agent_login: str | None) -> bool:
    """Callbacks owned by, and figures (KPIs) of, the agent `agent_login`."""
    return sees_everything(principal) or (
        agent_login is not None and agent_login == principal.login
    )


def may_receive(principal: Principal, message: Mapping[str, Any]) -> bool:
    """Whether a bus message may go to this principal's websocket.

    `call.*` messages follow `may_see_call`. A message meant for one person (a screen-pop,
    a callback reminder, an agent's own state) names that person's login in a top-level
    `agent` field. Anything else is for supervisors and administrators only: deny by default.
    """
    if sees_everything(principal):
        return True
    kind = str(message.get("type", ""))
    if kind.startswith("call."):
        call = message.get("call")
        return isinstance(call, Mapping) and may_see_call(principal, call)
    return isinstance(message.get("agent"), str) and message["agent"] == principal.login


def require(allowed: bool, what: str) -> None:
    """Raise `Denied(what)` unless `allowed`; the web edge turns it into a 403."""
    if not allowed:
        raise Denied(what)


__all__ = [
    "Denied",
    "call_parties",
    "may_change_configuration",
    "may_receive",
    "may_see_agent_data",
    "may_see_call",
    "may_use",
    "require",
    "sees_everything",
    "visible_extensions",
]
