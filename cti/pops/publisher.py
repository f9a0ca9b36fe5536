"""The one publisher of the feed's personal messages: one method per message, payloads as in
`schemas/ws/`. Each message names its recipient in `agent` (their login): the feed delivers it to
that login only. `seq` is added per login by the feed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from cti.calls.model import CallRecord
from cti.pops.pops import AgentRef


class Bus(Protocol):
    def publish(self, message: dict[str, Any]) -> None: ...


class PopKeeper(Protocol):
    def keep_pop(self, login: str, linkedid: str, view: dict[str, Any] | None) -> None: ...


class FeedPublisher:
    """Builds and sends the feed's personal messages; keeps each login's open pops for their
    next snapshot."""

    def __init__(self, *, bus: Bus, pops: PopKeeper | None = None) -> None:
        self._bus = bus
        self._pops = pops
        self.sent = 0

    def _send(self, message: dict[str, Any]) -> None:
        self.sent += 1
        self._bus.publish(message)

    def _keep(self, login: str, linkedid: str, view: dict[str, Any] | None) -> None:
        if self._pops is not None:
            self._pops.keep_pop(login, linkedid, view)

    # --- screen-pops ------------------------------------------------------------------------------

    def call_ringing(self, *, agent: str, pop: dict[str, Any]) -> None:
        """`agent`'s phone rings for a call: the pop with the caller's card."""
        self._keep(agent, pop["linkedid"], pop)
        self._send(
            {"type": "call.ringing", "agent": agent, "linkedid": pop["linkedid"], "pop": pop}
        )

    def pop_updated(self, *, agent: str, pop: dict[str, Any]) -> None:
        """The rest of an open pop's card arrived (orders, time zone, callbacks, last calls): the
        whole pop again, to replace the one shown."""
        self._keep(agent, pop["linkedid"], pop)
        self._send({"type": "pop.updated", "agent": agent, "linkedid": pop["linkedid"], "pop": pop})

    def call_answered(
        self, *, agent: str, linkedid: str, by: AgentRef, closes: bool, pop: dict[str, Any] | None
    ) -> None:
        """Someone answered a call `agent` holds a pop for: themselves (the pop stays, talking),
        or a colleague (`closes`: the pop closes)."""
        self._keep(agent, linkedid, None if closes else pop)
        self._send(
            {
                "type": "call.answered",
                "agent": agent,
                "linkedid": linkedid,
                "by": by.to_json(),
                "closes": closes,
            }
        )

    def call_transferred(
        self,
        *,
        agent: str,
        linkedid: str,
        direction: str,
        other: list[AgentRef],
        pop: dict[str, Any] | None = None,
    ) -> None:
        """A transfer: `direction` "to_you" opens `agent`'s pop with the context (`other`: who
        passed the call on); "away" closes the pop of the agent who passed it (`other`: to whom)."""
        message: dict[str, Any] = {
            "type": "call.transferred",
            "agent": agent,
            "linkedid": linkedid,
            "direction": direction,
            "other": [a.to_json() for a in other],
        }
        if direction == "to_you":
            assert pop is not None
            message["pop"] = pop
            self._keep(agent, linkedid, pop)
        else:
            self._keep(agent, linkedid, None)
        self._send(message)

    def call_ended(self, *, agent: str, record: CallRecord) -> None:
        """The call `agent` held a pop for has ended: the pop closes with the outcome."""
        self._keep(agent, record.linkedid, None)
        self._send({"type": "call.ended", "agent": agent, "call": record.to_json()})

    # --- the agent's own state ------------------------------------------------------------------

    def agent_state(self, *, agent: str, state: str, reason: str, since: str) -> None:
        """`agent`'s state changed (here, in another tab, or by a supervisor)."""
        self._send(
            {
                "type": "agent.state",
                "agent": agent,
                "state": state,
                "reason": reason,
                "since": since,
            }
        )

    def agents_changed(self, *, login: str, state: str, reason: str, since: str) -> None:
        """The same change for supervisors' views (no `agent`: supervisors and admins only)."""
        self._send(
            {
                "type": "agents.changed",
                "login": login,
                "state": state,
                "reason": reason,
                "since": since,
            }
        )

    # --- callbacks (supervisors) ------------------------------------------------------------------

    def callback_escalated(self, *, callback: dict[str, Any]) -> None:
        """An open callback passed its deadline: supervisors and administrators."""
        self._send({"type": "callback.escalated", "callback": callback})


def listener(publisher: FeedPublisher) -> Callable[[str, str, str, float], None]:
    """An agent-state listener (login, state, reason, since) that tells the agent and supervisors."""
    from cti.calls.model import iso

    def changed(login: str, state: str, reason: str, since: float) -> None:
        publisher.agent_state(agent=login, state=state, reason=reason, since=iso(since))
        publisher.agents_changed(login=login, state=state, reason=reason, since=iso(since))

    return changed


__all__ = ["FeedPublisher", "listener"]
