"""Carries out the pops: told of every effect of the call tracker (CallService's `on_effect`),
keeps the pure book (`cti.pops.pops`), fetches the caller's card once per call, and publishes the
messages in order per call (a pop's later messages wait for its card, never overtake it)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from cti.calls.machine import Answered, Effect, Finished, Ringing
from cti.calls.model import Call, iso
from cti.metrics import Histogram
from cti.pops import pops as book_rules
from cti.pops.cards import CallerCard, CardSource
from cti.pops.pops import AgentRef, AnsweredBy, CallFacts, Ended, Output, Show, TransferredAway
from cti.pops.publisher import FeedPublisher

log = logging.getLogger(__name__)


class RouteSource(Protocol):
    """The routing service: the decision it made for a call (by Linkedid), if any."""

    def decision_for(self, key: str) -> Any: ...


def route_for(decision: Any, login: str) -> dict[str, Any] | None:
    """Why this agent's phone rang: the step of the decision that named them, and the steps
    skipped before it (the account manager at lunch...)."""
    if decision is None:
        return None
    targets = list(getattr(decision, "targets", ()))
    for index, target in enumerate(targets):
        if getattr(target, "agent", None) != login:
            continue
        skipped = []
        for reason in getattr(decision, "reasons", ()):
            if reason.code == "chosen" and getattr(reason, "agent", None) == login:
                break
            if reason.code != "chosen":
                skipped.append(reason.to_json())
        return {
            "kind": str(getattr(target.kind, "value", target.kind)),
            "reason": target.reason,
            "fallback": index > 0 or bool(skipped),
            "skipped": skipped,
        }
    return None


@dataclass
class _Lane:
    """One call's messages, held back while its card is being fetched."""

    card: CallerCard | None = None
    ready: bool = False
    waiting: list[Output] = field(default_factory=list)


class AgentBook:
    """Extensions and endpoint names to agents (from the directory; refreshed by its owner)."""

    def __init__(self, agents: Iterable[tuple[str, str, str, str]] = ()) -> None:
        self.by_extension: dict[str, AgentRef] = {}
        self.by_login: dict[str, AgentRef] = {}
        self.set(agents)

    def set(self, agents: Iterable[tuple[str, str, str, str]]) -> None:
        """(login, name, extension, device) rows: `PJSIP/101` and `101` both name the agent."""
        by_extension: dict[str, AgentRef] = {}
        by_login: dict[str, AgentRef] = {}
        for login, name, extension, device in agents:
            endpoint = device.rpartition("/")[2] if device else ""
            ref = AgentRef(login=login, name=name or login, extension=extension or endpoint)
            by_login[login] = ref
            for key in (extension, endpoint):
                if key:
                    by_extension.setdefault(key, ref)
        self.by_extension, self.by_login = by_extension, by_login


class PopService:
    """Screen-pops from call effects. Runs in every process; publishes only while `active()`
    (with several processes: the one holding the lease), so a takeover has the book ready."""

    def __init__(
        self,
        *,
        publisher: FeedPublisher,
        agents: AgentBook,
        calls: Callable[[str], Call | None],
        direction: Callable[[Call], str | None],
        cards: CardSource | None = None,
        routing: RouteSource | None = None,
        active: Callable[[], bool] = lambda: True,
        card_timeout: float = 1.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._publisher = publisher
        self.agents = agents
        self._calls = calls
        self._direction = direction
        self._cards = cards
        self.routing = routing
        self._active = active
        self._card_timeout = card_timeout
        self._clock = clock
        self.book: dict[str, book_rules.CallPops] = {}  #: the calls with pops, by Linkedid
        self._lanes: dict[str, _Lane] = {}
        self._views: dict[tuple[str, str], dict[str, Any]] = {}
        #: Linkedid -> the logins with a view of it (a card read updates only its own pops)
        self._viewers: dict[str, set[str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.shown = 0
        #: from the AMI event's arrival to the pop handed to the feed (journal, sockets, Redis)
        self.latency = Histogram()
        #: when the event being handled arrived (time.monotonic; set by the composition root)
        self.arrival: Callable[[], float | None] = lambda: None
        self._arrived: dict[tuple[str, str], float] = {}
        #: pops another process opened before this one took AMI over: updated, not popped again
        self._inherited: set[tuple[str, str]] = set()
        self.card_failures = 0
        self.cards_read = 0  #: cards read from the database
        self.card_seconds = 0.0  #: ...and the time that took

    # --- CallService's listener ---------------------------------------------------------------

    def on_effect(self, effect: Effect) -> None:
        if not isinstance(effect, Ringing | Answered | Finished):
            return  # Changed, OfferEnded: nothing for the pops (most effects: keep this cheap)
        linkedid = effect.record.linkedid if isinstance(effect, Finished) else effect.linkedid
        call = self._calls(linkedid)
        facts = self.facts(call) if call is not None else None
        after, outputs = book_rules.step(
            self.book.get(linkedid),
            effect,
            agents=self.agents.by_extension,
            call=facts,
            now=self._clock(),
        )
        if after is None:
            self.book.pop(linkedid, None)
        else:
            self.book[linkedid] = after
        if isinstance(effect, Finished) and self._cards is not None:
            self._cards.forget_number(effect.record.caller_e164)
            self._cards.forget_number(effect.record.did_e164)
        if not self._active():
            if isinstance(effect, Finished):
                self._lanes.pop(linkedid, None)
            return
        arrived = self.arrival()
        if len(self._arrived) > 10_000:  # pops of calls that ended before their card came
            self._arrived.clear()
        for output in outputs:
            if arrived is not None and isinstance(output, Show):
                self._arrived[(output.pop.agent.login, output.linkedid)] = arrived
            self._dispatch(output)
        if isinstance(effect, Finished):
            lane = self._lanes.get(linkedid)
            if lane is not None and lane.ready:
                del self._lanes[linkedid]

    def inherit(self, open_pops: set[tuple[str, str]]) -> None:
        """Taking AMI over from another process: these (login, linkedid) pops are on screens
        already; the resync re-opens them as updates, not as new rings."""
        self._inherited = set(open_pops)

    def on_bus(self, message: dict[str, Any]) -> None:
        """A bus listener: a number's callbacks changed (or it missed a call), so its cached
        history is stale."""
        if self._cards is None:
            return
        kind = str(message.get("type", ""))
        if kind.startswith("callback."):
            callback = message.get("callback")
            if isinstance(callback, dict):
                self._cards.forget_number(callback.get("number"))
        elif kind == "call.missed":
            call = message.get("call")
            if isinstance(call, dict):
                self._cards.forget_number(call.get("caller_e164"))

    def facts(self, call: Call) -> CallFacts:
        return CallFacts(
            linkedid=call.linkedid,
            direction=self._direction(call),
            caller=call.caller,
            caller_name=call.caller_name,
            did=call.did,
            started_at=call.started_at,
            answered=call.answered_at is not None,
            transferred=call.transferred,
        )

    # --- in order per call, after the card -------------------------------------------------------

    def _dispatch(self, output: Output) -> None:
        linkedid = output.linkedid
        lane = self._lanes.get(linkedid)
        if lane is None and isinstance(output, Show):
            lane = self._lanes[linkedid] = _Lane()
            quick = None
            if self._cards is not None:
                call = output.call
                quick = self._cards.quick(call.caller, direction=call.direction)
                if quick is None or not quick.complete:
                    # from memory now, the database's part as an update; with nothing in memory
                    # (the lookup still loading), the pop waits for the database
                    self._fetch(linkedid, lane, call, update=quick is not None)
            lane.card = quick
            lane.ready = quick is not None or self._cards is None
        if lane is not None and not lane.ready:
            lane.waiting.append(output)
            return
        self._render(output, lane.card if lane is not None else None)

    def _fetch(self, linkedid: str, lane: _Lane, call: CallFacts, *, update: bool) -> None:
        task = asyncio.get_running_loop().create_task(
            self._card_then_flush(linkedid, lane, call, update=update), name=f"pop-card-{linkedid}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def _card_then_flush(
        self, linkedid: str, lane: _Lane, call: CallFacts, *, update: bool
    ) -> None:
        """Read the card. A pop waiting for it (nothing in memory) waits `card_timeout` at most,
        then shows the number and gets the card as an update when it comes."""
        assert self._cards is not None
        started = time.perf_counter()
        fetch = asyncio.ensure_future(
            self._cards.card(call.caller, direction=call.direction, name=call.caller_name)
        )
        if not update:
            try:
                card = await asyncio.wait_for(asyncio.shield(fetch), self._card_timeout)
            except TimeoutError:
                log.warning("the card of call %s is slow; popping the number first", linkedid)
                self._flush(linkedid, lane, CallerCard(number=call.caller, complete=False))
                update = True
            except Exception as exc:  # a failing directory: pop the number anyway
                self._failed(linkedid, exc)
                self._flush(linkedid, lane, CallerCard(number=call.caller, failed=True))
                return
            else:
                self._read(started)
                self._flush(linkedid, lane, card)
                return
        try:
            async with asyncio.timeout(30.0):  # an update keeps nobody waiting
                card = await fetch
        except Exception as exc:
            self._failed(linkedid, exc)
            return  # the pops keep what memory knew
        self._read(started)
        lane.card = card
        for login in list(self._viewers.get(linkedid, ())):  # still open: the whole card
            view = self._views[(login, linkedid)]
            fuller = {**view, **self._card_part(card, view["caller"])}
            self._views[(login, linkedid)] = fuller
            self._publisher.pop_updated(agent=login, pop=fuller)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("fetching a card failed", exc_info=task.exception())

    def _flush(self, linkedid: str, lane: _Lane, card: CallerCard) -> None:
        lane.card, lane.ready = card, True
        waiting, lane.waiting = lane.waiting, []
        for output in waiting:
            try:
                self._render(output, card)
            except Exception:
                log.exception("could not publish a pop message for call %s", linkedid)
        if linkedid not in self.book:
            self._lanes.pop(linkedid, None)  # the call ended while its card was fetched

    def _read(self, started: float) -> None:
        self.cards_read += 1
        self.card_seconds += time.perf_counter() - started

    def _failed(self, linkedid: str, exc: BaseException) -> None:
        self.card_failures += 1
        log.warning(
            "no card for call %s (%s: %s); the pop shows the number",
            linkedid,
            exc.__class__.__name__,
            exc,
        )

    async def drain(self) -> None:
        """Wait for the cards being fetched (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- messages -------------------------------------------------------------------------------

    def _render(self, output: Output, card: CallerCard | None) -> None:
        p = self._publisher
        if isinstance(output, Show):
            self.shown += 1
            login = output.pop.agent.login
            arrived = self._arrived.pop((login, output.linkedid), None)
            if arrived is not None:
                self.latency.observe(time.monotonic() - arrived)
            view = self.view(output, card)
            self._set_view(login, output.linkedid, view)
            if (login, output.linkedid) in self._inherited:  # shown before the takeover
                self._inherited.discard((login, output.linkedid))
                p.pop_updated(agent=login, pop=view)
            elif output.pop.transferred_from:
                p.call_transferred(
                    agent=login,
                    linkedid=output.linkedid,
                    direction="to_you",
                    other=list(output.pop.transferred_from),
                    pop=view,
                )
            else:
                p.call_ringing(agent=login, pop=view)
        elif isinstance(output, AnsweredBy):
            key = (output.to.login, output.linkedid)
            kept = self._views.get(key)
            if output.closes:
                self._drop_view(*key)
            elif kept is not None:
                kept = {**kept, "state": "talking", "answered_by": output.by.to_json()}
                self._views[key] = kept
            p.call_answered(
                agent=output.to.login,
                linkedid=output.linkedid,
                by=output.by,
                closes=output.closes,
                pop=kept,
            )
        elif isinstance(output, TransferredAway):
            self._drop_view(output.to.login, output.linkedid)
            p.call_transferred(
                agent=output.to.login,
                linkedid=output.linkedid,
                direction="away",
                other=[output.target],
            )
        elif isinstance(output, Ended):
            self._drop_view(output.to.login, output.linkedid)
            p.call_ended(agent=output.to.login, record=output.record)

    def _set_view(self, login: str, linkedid: str, view: dict[str, Any]) -> None:
        self._views[(login, linkedid)] = view
        self._viewers.setdefault(linkedid, set()).add(login)

    def _drop_view(self, login: str, linkedid: str) -> None:
        if self._views.pop((login, linkedid), None) is not None:
            viewers = self._viewers[linkedid]
            viewers.discard(login)
            if not viewers:
                del self._viewers[linkedid]

    def view(self, show: Show, card: CallerCard | None) -> dict[str, Any]:
        """The pop as the console shows it (schemas/ws/pop.json)."""
        call, pop = show.call, show.pop
        card = card if card is not None else CallerCard(number=call.caller)
        decision = None
        if self.routing is not None:
            try:
                decision = self.routing.decision_for(call.linkedid)
            except Exception:
                log.exception("routing decision for %s unavailable", call.linkedid)
        return {
            "linkedid": call.linkedid,
            "agent": pop.agent.to_json(),
            "state": pop.state.value,
            "direction": call.direction,
            "did": call.did,
            "started_at": iso(call.started_at),
            "rang_at": iso(pop.opened_at),
            **self._card_part(card, {"number": call.caller, "name": call.caller_name}),
            "route": self._named(route_for(decision, pop.agent.login)),
            "transferred_from": [a.to_json() for a in pop.transferred_from],
            "answered_by": None,
        }

    @staticmethod
    def _card_part(card: CallerCard, caller: dict[str, Any]) -> dict[str, Any]:
        """What the card sets in a pop's view: the caller's E.164 and kind, the customer..."""
        return {**card.to_json(), "caller": {**caller, "e164": card.e164, "kind": card.kind}}

    def _named(self, route: dict[str, Any] | None) -> dict[str, Any] | None:
        """Skipped steps name their agent for people, not only by login."""
        if route is None:
            return None
        for step in route["skipped"]:
            ref = self.agents.by_login.get(step.get("agent") or "")
            step["name"] = ref.name if ref is not None else step.get("agent") or ""
        return route

    def open_views(self, login: str) -> list[dict[str, Any]]:
        return [v for (who, _), v in self._views.items() if who == login]


def agent_rows(people: Iterable[Any]) -> list[tuple[str, str, str, str]]:
    """AgentBook rows from the auth store's people (`cti.auth.store.Person`)."""
    return [(p.login, p.name, p.extension, p.device) for p in people]


__all__ = ["AgentBook", "PopService", "agent_rows", "route_for"]
