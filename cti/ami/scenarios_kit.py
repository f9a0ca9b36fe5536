"""What every simulator scenario shares: its parameters, running context and intended call record."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cti.ami.sim_clock import Steps
from cti.ami.sim_dialplan import Dialplan
from cti.ami.sim_pbx import Pbx

SHORT_ABANDON_SECONDS = 5.0  #: SPEC's default short-abandon threshold
MAIN_DID = "74952220101"
QUEUE_DID = "700"
BUSY_REPLY_SECONDS = 0.1  #: how long a busy phone takes to refuse
AGENTS = ("101", "102", "103")  #: account managers; 199 is the duty operator
CALLER_NAMES = ("Иван Сергеевич", "Анна Кузнецова", "ООО Уютный Дом", "ACME LLC", "Petr Orlov")


@dataclass(frozen=True, slots=True)
class Params:
    """Knobs of a scenario; each scenario overrides the defaults that make sense for it."""

    caller: str = "+79161234567"  #: caller ID number as the trunk delivers it
    caller_name: str = ""  #: caller ID name; empty means "same as the number", as PSTN trunks do
    did: str = MAIN_DID  #: dialled number (inbound)
    agent: str = "101"  #: first agent rung; the transferer; the internal / click-to-call caller
    other: str = "102"  #: transfer target, internal callee, the colleague who picks up
    duty: str = "199"  #: the duty operator (fallback)
    members: tuple[str, ...] = ("101", "102", "103")  #: queue members (ring-all)
    number: str = "89161234567"  #: external number called by click-to-call
    ring: float = 2.0  #: seconds the first phone rings (until answer, timeout, pickup...)
    ring_timeout: int = 8  #: Dial timeout of the first attempt
    second_ring: float = 2.0  #: seconds the second phone rings (duty, transfer target, far end)
    duty_timeout: int = 15  #: Dial timeout of the duty operator
    talk: float = 3.0  #: talk before the call ends (or before the transfer)
    consult: float = 3.0  #: consultation talk of an attended transfer
    talk_after: float = 3.0  #: talk after a transfer
    hangup_after: float = 8.0  #: when the caller gives up, from the call's first channel
    queue_delay: float = 0.5  #: from Answer to Queue() in the queue dialplan
    prompt: float = 5.0  #: voicemail / closed-hours announcement length
    action_id: str | None = None  #: ActionID of the Originate behind a click-to-call


@dataclass(eq=False)
class Call:
    """One running scenario: the dialplan to act through, its parameters, and its first uniqueid."""

    dp: Dialplan
    p: Params
    uniqueid: str  #: reserved for the call's first channel: it is the call's Linkedid
    expected: dict[str, Any] = field(default_factory=dict)

    @property
    def pbx(self) -> Pbx:
        return self.dp.pbx

    @property
    def now(self) -> float:
        return self.dp.pbx.clock.now


def record(
    *,
    direction: str,
    caller: str,
    did: str,
    rung: list[str],
    answered_by: list[str],
    wait: float,
    talk: float = 0.0,
    missed_kind: str | None = None,
) -> dict[str, Any]:
    """The record a correct call tracker makes of the call (without its Linkedid, known later)."""
    if answered_by:
        outcome = "answered"
    else:
        outcome = "missed" if direction == "inbound" else "unanswered"
    kind = missed_kind if outcome == "missed" else None
    return {
        "direction": direction,
        "caller": caller,
        "did": did,
        "agents_rung": list(rung),
        "answered_by": list(answered_by),
        "outcome": outcome,
        "missed_kind": kind,
        "short_abandon": kind == "abandoned" and wait < SHORT_ABANDON_SECONDS,
        "wait_seconds": round(wait, 3),
        "talk_seconds": round(talk, 3),
    }


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named call scenario: how it plays, and the record it intends."""

    name: str
    body: Callable[[Call], Steps]  #: emits the events; each `yield` pauses (simulated seconds)
    expect: Callable[[Params], dict[str, Any]]
    defaults: dict[str, Any]  #: overrides of `Params` defaults for this scenario
    randomize: Callable[[random.Random], dict[str, Any]]  #: plausible random parameters


#: numbers of the demo customers (cti.db.directory.seed_demo), in the formats trunks deliver
REGULAR_CALLERS = ("89161234567", "+79031112233", "89165550101", "79261112233", "+79165550102")


def random_caller(rng: random.Random) -> dict[str, Any]:
    """A Russian mobile or landline in one of the formats trunks deliver, sometimes with a name."""
    if rng.random() < 0.4:
        # regulars: the demo directory's customers call back again and again
        return {"caller": rng.choice(REGULAR_CALLERS), "caller_name": ""}
    digits = f"{rng.choice(('916', '903', '926', '495', '812'))}{rng.randrange(10**7):07d}"
    number = rng.choice((f"+7{digits}", f"8{digits}", f"7{digits}"))
    name = rng.choice(CALLER_NAMES) if rng.random() < 0.3 else ""
    return {"caller": number, "caller_name": name}


def two_agents(rng: random.Random) -> dict[str, Any]:
    agent, other = rng.sample(AGENTS, 2)
    return {"agent": agent, "other": other}


def seconds(rng: random.Random, low: float, high: float) -> float:
    return round(rng.uniform(low, high), 1)
