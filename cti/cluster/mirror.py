"""What a process learns from the others through the fan-out: the live calls (only the AMI
consumer tracks them; the standbys mirror them for their websockets and API) and agents' states
set elsewhere (applied at once, before routing's periodic reload from the database)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class ClusterMirror:
    """One per process, with Redis. Fan-out messages are at most once: the consumer also sends
    every live call every `every` seconds, so a standby's mirror heals from a lost message."""

    def __init__(
        self,
        *,
        publish: Callable[[dict[str, Any]], None],
        leader: Callable[[], bool],
        routing: Any = None,
    ) -> None:
        self._publish = publish
        self._leader = leader
        self._routing = routing
        self.live: dict[str, dict[str, Any]] = {}
        self._announced: set[str] = set()  #: calls the others were told of (consumer side)

    # --- out: the consumer's live calls, anyone's agent states ------------------------------------

    def on_bus(self, message: dict[str, Any]) -> None:
        """A bus listener: call.live / call.ended reach the bus only on the AMI consumer."""
        kind = message.get("type")
        call = message.get("call")
        if kind not in ("call.live", "call.ended") or not isinstance(call, dict):
            return
        linkedid = str(call.get("linkedid"))
        if kind == "call.live":
            # a new call at once; its later changes come with the whole list every `every` s
            # (each change would cost a Redis message: the pops share that channel)
            if linkedid not in self._announced:
                if len(self._announced) >= 100_000:  # ends never seen: start over
                    self._announced.clear()
                self._announced.add(linkedid)
                self._publish({"live": call})
        else:
            self._announced.discard(linkedid)
            self._publish({"ended": linkedid})

    def state_changed(self, login: str, state: str, reason: str, since: float) -> None:
        """Routing's state listener: the other processes apply it without waiting."""
        self._publish(
            {"agent_state": {"login": login, "state": state, "reason": reason, "since": since}}
        )

    async def publish_forever(
        self, live_calls: Callable[[], list[dict[str, Any]]], every: float = 5.0
    ) -> None:
        """A task the application owns: the whole list of live calls, from the consumer."""
        while True:
            await asyncio.sleep(every)
            if self._leader():
                self._publish({"live_all": live_calls()})

    # --- in ----------------------------------------------------------------------------------------

    def apply(self, payload: dict[str, Any]) -> None:
        """A fan-out listener (messages of other processes only)."""
        if isinstance(payload.get("agent_state"), dict):
            self._agent_state(payload["agent_state"])
        elif self._leader():
            return  # live calls: the consumer's own tracker is the truth
        elif isinstance(payload.get("live"), dict):
            call = payload["live"]
            self.live[str(call.get("linkedid"))] = call
        elif "ended" in payload:
            self.live.pop(str(payload["ended"]), None)
        elif isinstance(payload.get("live_all"), list):
            self.live = {
                str(c.get("linkedid")): c for c in payload["live_all"] if isinstance(c, dict)
            }

    def _agent_state(self, item: dict[str, Any]) -> None:
        if self._routing is None or not hasattr(self._routing, "presence"):
            return
        from cti.routing.model import AgentState, Presence

        try:
            presence = Presence(
                AgentState(item["state"]), str(item.get("reason", "")), float(item["since"])
            )
        except (KeyError, TypeError, ValueError):
            log.warning("ignoring a malformed agent state from another process")
            return
        self._routing.presence = {**self._routing.presence, str(item["login"]): presence}

    def live_calls(self, local: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """The live calls this process shows: its own when it consumes AMI, else the mirror."""
        return local() if self._leader() else list(self.live.values())


__all__ = ["ClusterMirror"]
