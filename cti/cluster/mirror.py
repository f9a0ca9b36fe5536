"""What a process learns from the others through the fan-out: the live calls (only the AMI
consumer tracks them; the standbys mirror them for their websockets and API) and agents' states
set elsewhere (applied at once, before routing's periodic reload from the database)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

log = logging.getLogger(__name__)

#: live calls per message of the consumer's periodic list (~400 bytes of JSON each)
PAGE = 500


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
        #: the round of pages being received: calls in its pages, and calls announced meanwhile
        self._round: set[str] | None = None
        self._round_new: set[str] = set()

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
        self,
        live_calls: Callable[[], Iterable[dict[str, Any]]],
        every: float = 5.0,
        page: int = PAGE,
    ) -> None:
        """A task the application owns: every live call, from the consumer, in pages of `page`
        calls with the loop free between them. `live_calls` may be lazy: each page's calls are
        read as it is sent, so a call that ends meanwhile is in no later page (its "ended" comes
        after the pages that had it). One message of 20,000 calls held the loop ~0.3 s."""
        while True:
            await asyncio.sleep(every)
            if not self._leader():
                continue
            calls = iter(live_calls())
            first = True
            while True:
                chunk = list(islice(calls, page))  # read now, sent now: no stale page
                last = len(chunk) < page  # (an empty last page when the calls fill them all)
                self._publish({"live_page": chunk, "first": first, "last": last})
                if last:
                    break
                first = False
                await asyncio.sleep(0)

    # --- in ----------------------------------------------------------------------------------------

    def apply(self, payload: dict[str, Any]) -> None:
        """A fan-out listener (messages of other processes only)."""
        if isinstance(payload.get("agent_state"), dict):
            self._agent_state(payload["agent_state"])
        elif self._leader():
            return  # live calls: the consumer's own tracker is the truth
        elif isinstance(payload.get("live"), dict):
            call = payload["live"]
            linkedid = str(call.get("linkedid"))
            self.live[linkedid] = call
            if self._round is not None:
                self._round_new.add(linkedid)
        elif "ended" in payload:
            self.live.pop(str(payload["ended"]), None)
        elif isinstance(payload.get("live_page"), list):
            self._page(payload)
        elif isinstance(payload.get("live_all"), list):  # from a process of an older version
            self.live = {
                str(c.get("linkedid")): c for c in payload["live_all"] if isinstance(c, dict)
            }

    def _page(self, payload: dict[str, Any]) -> None:
        """One page of the consumer's round: its calls are live; after the last page, calls in
        no page of the round (and not announced during it) have ended (their "ended" was lost).
        A round whose first page was lost only updates; the next one prunes."""
        if payload.get("first"):
            self._round, self._round_new = set(), set()
        for call in payload["live_page"]:
            if isinstance(call, dict):
                linkedid = str(call.get("linkedid"))
                self.live[linkedid] = call
                if self._round is not None:
                    self._round.add(linkedid)
        if payload.get("last") and self._round is not None:
            keep = self._round | self._round_new
            self.live = {k: v for k, v in self.live.items() if k in keep}
            self._round, self._round_new = None, set()

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
