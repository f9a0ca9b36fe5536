"""A small office for routing tests: agents, a rota, a customer, and an in-memory store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cti.routing.model import (
    AgentProfile,
    AgentState,
    CustomerInfo,
    Presence,
    StateInterval,
    UnknownAgent,
    UnknownShift,
)
from cti.routing.policy import RoutingOptions
from cti.routing.rules import parse_rules
from cti.routing.schedules import DutyShift, make_shift
from cti.routing.service import RoutingService

AGENTS = [
    AgentProfile("ivanova", "Ivanova", "101", "PJSIP/101", "+79167654321", frozenset({"sales"}), 2),
    AgentProfile("kozlov", "Kozlov", "103", "PJSIP/103", "", frozenset({"sales"}), 0),
    AgentProfile("sidorova", "Sidorova", "102", "PJSIP/102", "", frozenset({"sales"}), 5),
    AgentProfile("smirnova", "Smirnova", "150", "PJSIP/150", "", frozenset({"duty"}), 1),
    AgentProfile("petrov", "Petrov", "199", "PJSIP/199", "", frozenset({"duty"}), 1),
]
ROTA = [
    make_shift("smirnova", "mon-fri", "09:00", "20:00"),
    make_shift("petrov", "daily", "20:00", "09:00"),
]
UYUT = CustomerInfo("42", "Иван Сергеевич", 'ООО "Уютный дом"', manager_login="ivanova")
PHONES = {"+79161234567": UYUT}
#: Tuesday 2026-11-24 12:30 in Moscow
LUNCHTIME = 1_795_512_600.0


class MemoryStore:
    """RoutingStore in memory: what the database would keep, for tests without one."""

    def __init__(self, agents: Sequence[AgentProfile] = AGENTS, rota: Sequence[DutyShift] = ROTA):
        self._agents = list(agents)
        self._states: list[StateInterval] = []
        self._rota = [replace(s, id=n) for n, s in enumerate(rota, start=1)]
        self._next = len(self._rota) + 1

    async def agents(self) -> list[AgentProfile]:
        return list(self._agents)

    async def current_states(self) -> dict[str, Presence]:
        return {
            i.login: Presence(i.state, i.reason, i.started_at)
            for i in self._states
            if i.ended_at is None
        }

    async def set_state(
        self, login: str, state: AgentState, reason: str, *, at: float, actor: str = ""
    ) -> Presence:
        if login not in {a.login for a in self._agents}:
            raise UnknownAgent(login)
        self._states = [
            replace(i, ended_at=at) if i.login == login and i.ended_at is None else i
            for i in self._states
        ]
        self._states.append(StateInterval(login, state, reason, at, None, actor))
        return Presence(state, reason, at)

    async def state_history(self, login: str, *, since: float, until: float) -> list[StateInterval]:
        return [i for i in self._states if i.login == login]

    async def shifts(self) -> list[DutyShift]:
        return list(self._rota)

    def _known(self, login: str) -> None:
        if login and login not in {a.login for a in self._agents}:
            raise UnknownAgent(login)

    async def add_shift(self, shift: DutyShift) -> DutyShift:
        self._known(shift.login)
        stored = replace(shift, id=self._next)
        self._next += 1
        self._rota.append(stored)
        return stored

    async def update_shift(self, shift_id: int, shift: DutyShift) -> DutyShift:
        if shift_id not in {s.id for s in self._rota}:
            raise UnknownShift(shift_id)
        self._known(shift.login)
        stored = replace(shift, id=shift_id)
        self._rota = [stored if s.id == shift_id else s for s in self._rota]
        return stored

    async def delete_shift(self, shift_id: int) -> None:
        if shift_id not in {s.id for s in self._rota}:
            raise UnknownShift(shift_id)
        self._rota = [s for s in self._rota if s.id != shift_id]

    async def replace_shifts(self, shifts: Sequence[DutyShift], *, append: bool = False) -> int:
        for s in shifts:
            self._known(s.login)
        if not append:
            self._rota = []
        for s in shifts:
            await self.add_shift(s)
        return len(shifts)


async def lookup(caller: str) -> CustomerInfo | None:
    digits = "".join(ch for ch in caller if ch.isdigit())
    if digits.startswith("8") and len(digits) == 11:
        digits = "7" + digits[1:]
    return PHONES.get("+" + digits)


def office(clock: list[float] | None = None, **options: object) -> RoutingService:
    now = clock if clock is not None else [LUNCHTIME]
    return RoutingService(
        store=MemoryStore(),
        lookup=lookup,
        rules=parse_rules(["74951112233=sales"], default_team="sales"),
        options=RoutingOptions(**options),  # type: ignore[arg-type]
        timezone="Europe/Moscow",
        clock=lambda: now[0],
    )
