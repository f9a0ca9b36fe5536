"""One pop per agent per call: who holds an open screen-pop, from the tracker's effects (pure).

`apply(book, effect, ...)` returns the new book and what to tell whom. An agent's pop opens the
first time their phone rings for a call (DialBegin or AgentCalled: a `Ringing` effect), however
many legs ring it (queue ring-all, retries, fallbacks, a reconnect's replays); it closes when a
colleague answers, when the agent transfers the call away, and when the call ends. A transfer
target gets a pop too, with the context (who passed the call on). Extensions become logins
through `agents` (the directory); a ring of an unknown extension or an outside number pops
nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from cti.calls.machine import Answered, Effect, Finished, Ringing
from cti.calls.model import CallRecord


@dataclass(frozen=True, slots=True)
class AgentRef:
    """An agent as a pop names them."""

    login: str
    name: str = ""
    extension: str = ""

    def to_json(self) -> dict[str, str]:
        return {"login": self.login, "name": self.name or self.login, "extension": self.extension}


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the pop needs of the live call when an effect arrives (from the tracker)."""

    linkedid: str
    direction: str | None = None  #: inbound, outbound, internal (None: not known yet)
    caller: str = ""
    caller_name: str = ""
    did: str = ""
    started_at: float = 0.0
    answered: bool = False  #: a person has answered
    transferred: bool = False  #: a blind or attended transfer succeeded


class PopState(enum.StrEnum):
    RINGING = "ringing"  #: the agent's phone rings (or rang) and nobody answered yet
    TALKING = "talking"  #: this agent answered


@dataclass(frozen=True, slots=True)
class Pop:
    """One agent's open pop for one call."""

    agent: AgentRef
    opened_at: float
    state: PopState = PopState.RINGING
    transferred_from: tuple[AgentRef, ...] = ()  #: set when the pop came with a transfer


@dataclass(frozen=True, slots=True)
class CallPops:
    """The pops of one call: open ones, and the logins whose pop already closed."""

    open: Mapping[str, Pop] = field(default_factory=dict)  #: by login
    closed: frozenset[str] = frozenset()


# --- what to tell whom ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Show:
    """Open a pop for `pop.agent`: `call.ringing`, or `call.transferred` when `pop.transferred_from`."""

    linkedid: str
    pop: Pop
    call: CallFacts


@dataclass(frozen=True, slots=True)
class AnsweredBy:
    """Tell `to` who answered; `closes` when it was someone else (their pop closes)."""

    linkedid: str
    to: AgentRef
    by: AgentRef  #: the agent who answered (login empty: an outside number, e.g. a mobile)
    closes: bool


@dataclass(frozen=True, slots=True)
class TransferredAway:
    """`to` passed the call on to `target`: their pop closes."""

    linkedid: str
    to: AgentRef
    target: AgentRef


@dataclass(frozen=True, slots=True)
class Ended:
    """The call ended while `to` held a pop for it."""

    linkedid: str
    to: AgentRef
    record: CallRecord


Output = Show | AnsweredBy | TransferredAway | Ended

#: the book: every call with pops, by Linkedid
Book = Mapping[str, CallPops]


def apply(
    book: Book,
    effect: Effect,
    *,
    agents: Mapping[str, AgentRef],
    call: CallFacts | None,
    now: float,
) -> tuple[Book, list[Output]]:
    """The book after one effect of the tracker, and the messages it calls for.

    `agents` maps an extension or endpoint name (`101`, `ivanov`) to the agent; `call` is the
    live call the effect is about (None once it has gone); `now` stamps new pops.
    """
    linkedid = effect.record.linkedid if isinstance(effect, Finished) else effect.linkedid
    before = book.get(linkedid)
    after, outputs = step(before, effect, agents=agents, call=call, now=now)
    if after is before:
        return book, outputs
    rest = {k: v for k, v in book.items() if k != linkedid}
    return ({**rest, linkedid: after} if after is not None else rest), outputs


def step(
    pops: CallPops | None,
    effect: Effect,
    *,
    agents: Mapping[str, AgentRef],
    call: CallFacts | None,
    now: float,
) -> tuple[CallPops | None, list[Output]]:
    """`apply` for the one call the effect is about: its pops before and after (None: none)."""
    if isinstance(effect, Ringing):
        return _ringing(pops, effect, agents, call, now)
    if isinstance(effect, Answered):
        return _answered(pops, effect, agents, call, now)
    if isinstance(effect, Finished):
        return _finished(pops, effect.record)
    return pops, []


def _talkers(pops: CallPops) -> tuple[AgentRef, ...]:
    return tuple(p.agent for p in pops.open.values() if p.state is PopState.TALKING)


def _ringing(
    before: CallPops | None,
    e: Ringing,
    agents: Mapping[str, AgentRef],
    call: CallFacts | None,
    now: float,
) -> tuple[CallPops | None, list[Output]]:
    agent = agents.get(e.agent)
    if agent is None or call is None:
        return before, []  # an outside number (follow-me mobile) or a phone nobody owns
    pops = before or CallPops()
    if agent.login in pops.open:
        return before, []  # rung again by another leg: still one pop
    transfer = call.answered and call.transferred
    if agent.login in pops.closed and not transfer:
        return before, []  # this agent's pop for the call already closed: never twice
    outputs: list[Output] = []
    opened = dict(pops.open)
    source: tuple[AgentRef, ...] = ()
    if transfer:
        source = _talkers(pops)
        for talker in source:  # the transferer's pop goes with the call
            del opened[talker.login]
            outputs.append(TransferredAway(e.linkedid, talker, agent))
    pop = Pop(agent=agent, opened_at=now, transferred_from=source)
    opened[agent.login] = pop
    closed = (pops.closed | {a.login for a in source}) - {agent.login}
    outputs.append(Show(e.linkedid, pop, call))
    return CallPops(opened, closed), outputs


def _answered(
    before: CallPops | None,
    e: Answered,
    agents: Mapping[str, AgentRef],
    call: CallFacts | None,
    now: float,
) -> tuple[CallPops | None, list[Output]]:
    by = agents.get(e.agent) or AgentRef(login="", name=e.agent, extension=e.agent)
    pops = before or CallPops()
    outputs: list[Output] = []
    opened = dict(pops.open)
    closed = set(pops.closed)
    transfer = call is not None and call.transferred
    if by.login and by.login not in opened and call is not None:
        # talking without a ring of their own: a pickup of a ringing phone, or a call someone
        # was already talking on passed to them (an attended transfer: Asterisk bridges the
        # target before it reports the AttendedTransfer)
        source = tuple(t for t in _talkers(pops) if t.login != by.login)
        for talker in source:
            del opened[talker.login]
            closed.add(talker.login)
            outputs.append(TransferredAway(e.linkedid, talker, by))
        pop = Pop(agent=by, opened_at=now, transferred_from=source)
        opened[by.login] = pop
        closed.discard(by.login)
        outputs.append(Show(e.linkedid, pop, call))
    for login, pop in list(opened.items()):
        if login == by.login:
            opened[login] = replace(pop, state=PopState.TALKING)
            outputs.append(AnsweredBy(e.linkedid, pop.agent, by, closes=False))
        elif pop.state is PopState.RINGING:
            del opened[login]  # a colleague took the call
            closed.add(login)
            outputs.append(AnsweredBy(e.linkedid, pop.agent, by, closes=True))
        elif transfer:
            del opened[login]  # the attended transfer's target is talking now
            closed.add(login)
            outputs.append(TransferredAway(e.linkedid, pop.agent, by))
    if not opened and not closed:
        return before, outputs
    return CallPops(opened, frozenset(closed)), outputs


def _finished(before: CallPops | None, record: CallRecord) -> tuple[CallPops | None, list[Output]]:
    if before is None:
        return None, []
    return None, [Ended(record.linkedid, p.agent, record) for p in before.open.values()]


def open_pops(book: Book, login: str) -> list[tuple[str, Pop]]:
    """(linkedid, pop) of every call `login` holds an open pop for."""
    return [(lid, pops.open[login]) for lid, pops in book.items() if login in pops.open]


__all__ = [
    "AgentRef",
    "AnsweredBy",
    "Book",
    "CallFacts",
    "CallPops",
    "Ended",
    "Output",
    "Pop",
    "PopState",
    "Show",
    "TransferredAway",
    "apply",
    "open_pops",
    "step",
]
