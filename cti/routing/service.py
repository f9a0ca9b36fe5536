"""RoutingService: keeps agents, their states, phones, the rota and recent offers; decides."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from cti.ami.events import AmiEvent
from cti.calls.machine import Effect, Ringing
from cti.calls.model import Call, CallRecord
from cti.calls.outcome import closed_line
from cti.calls.tracker import agent_calls_of
from cti.routing import views
from cti.routing.availability import assess
from cti.routing.calendar import BusinessCalendar, LineStatus
from cti.routing.devices import DEVICE_EVENTS, DeviceBook, device_key
from cti.routing.model import (
    AgentProfile,
    AgentState,
    CustomerInfo,
    DeviceState,
    Presence,
    RouteDecision,
    StateInterval,
)
from cti.routing.outcome import route_outcome
from cti.routing.policy import RoutingOptions, Situation, route_call
from cti.routing.rules import DidRules
from cti.routing.schedules import DutyShift, on_duty
from cti.routing.shifts import ShiftStatus, shift_edges, shift_status
from cti.routing.timetable import TimeRow
from cti.routing.whatif import Override, apply_overrides

log = logging.getLogger(__name__)

CustomerLookup = Callable[[str], Awaitable[CustomerInfo | None]]


class RoutingStore(Protocol):
    """The database side (cti.db.routing.RoutingRepository)."""

    async def agents(self) -> list[AgentProfile]: ...
    async def current_states(self) -> dict[str, Presence]: ...
    async def set_state(
        self, login: str, state: AgentState, reason: str, *, at: float, actor: str = ""
    ) -> Presence: ...
    async def state_history(
        self, login: str, *, since: float, until: float
    ) -> list[StateInterval]: ...
    async def shifts(self) -> list[DutyShift]: ...
    async def add_shift(self, shift: DutyShift) -> DutyShift: ...
    async def update_shift(self, shift_id: int, shift: DutyShift) -> DutyShift: ...
    async def delete_shift(self, shift_id: int) -> None: ...
    async def replace_shifts(self, shifts: Sequence[DutyShift], *, append: bool = False) -> int: ...


class CalendarStore(Protocol):
    """Agents' shifts and lines' calendars (cti.db.calendars.CalendarRepository)."""

    async def shift_rows(self) -> list[TimeRow]: ...
    async def replace_shift_rows(self, rows: Sequence[TimeRow], *, append: bool = False) -> int: ...
    async def line_rows(self) -> list[TimeRow]: ...
    async def replace_line_rows(
        self, rows: Sequence[TimeRow], *, append: bool = False, only_dates: bool = False
    ) -> int: ...


@dataclass
class RoutingStats:
    decisions: int = 0
    degraded: int = 0  #: decisions made without the customer (lookup failed or too slow)
    refresh_errors: int = 0
    annotated: int = 0  #: finished calls that got their routing step


def _endpoint(dial: str) -> str:
    return dial.partition("/")[2].split("@", 1)[0] if "/" in dial else dial


def _numbered(rows: Iterable[TimeRow]) -> tuple[TimeRow, ...]:
    return tuple(dataclasses.replace(r, id=n) for n, r in enumerate(rows, start=1))


class RoutingService:
    """The live side of routing. Everything it decides from is in memory; the database is
    read at start and every `refresh_seconds` (changes made by the CLI or another process)."""

    def __init__(
        self,
        *,
        store: RoutingStore,
        lookup: CustomerLookup | None,
        rules: DidRules,
        options: RoutingOptions,
        timezone: str,
        live_calls: Callable[[], Iterable[Call]] = tuple,
        agent_calls: Callable[[], Mapping[str, Collection[str]]] | None = None,
        clock: Callable[[], float] = time.time,
        lookup_timeout: float = 0.5,
        refresh_seconds: float = 5.0,
        memory: int = 20_000,
        calendars: CalendarStore | None = None,
    ) -> None:
        self._store = store
        self._calendars = calendars
        self._lookup = lookup
        self.rules = rules
        self.options = options
        self.tz = ZoneInfo(timezone)
        self._live_calls = live_calls
        #: agent endpoint -> its live calls, kept by the tracker (else computed from live_calls)
        self._agent_calls = agent_calls
        self._clock = clock
        self._lookup_timeout = lookup_timeout
        self._refresh_seconds = refresh_seconds
        self._memory = memory
        self.agents: dict[str, AgentProfile] = {}
        self._phones: dict[str, tuple[str, str]] = {}
        self._by_endpoint: dict[str, str] = {}
        self.presence: dict[str, Presence] = {}
        self.rota: tuple[DutyShift, ...] = ()
        self.shift_rows: tuple[TimeRow, ...] = ()  #: agents' shifts
        self.calendar = BusinessCalendar((), timezone, rules.region)  #: lines' hours, holidays
        self.devices = DeviceBook()
        self.last_offered: dict[str, float] = {}
        self._decisions: OrderedDict[str, RouteDecision] = OrderedDict()
        self._resync = asyncio.Event()
        self.stats = RoutingStats()
        #: told (login, state, reason, since) of every state set here (the console's live view)
        self.state_listeners: list[Callable[[str, str, str, float], None]] = []

    def now(self) -> float:
        return self._clock()

    # --- state from the database ----------------------------------------------------------------

    async def load(self) -> None:
        agents = await self._store.agents()
        presence = await self._store.current_states()
        shifts = await self._store.shifts()
        self.set_agents(agents)
        self.presence = presence
        self.rota = tuple(shifts)
        if self._calendars is not None:
            self.shift_rows = tuple(await self._calendars.shift_rows())
            self.set_calendar(await self._calendars.line_rows())

    def set_calendar(self, rows: Iterable[TimeRow]) -> None:
        self.calendar = BusinessCalendar(tuple(rows), self.calendar.timezone, self.rules.region)

    def set_agents(self, agents: Iterable[AgentProfile]) -> None:
        self.agents = {a.login: a for a in agents}
        #: each agent's device key and extension, to find their phone's state in the book
        self._phones = {
            a.login: (device_key(a.device) if a.device else "", a.extension)
            for a in self.agents.values()
        }
        by_endpoint: dict[str, str] = {}
        for a in self.agents.values():
            for name in (a.extension, _endpoint(a.device)):
                if name:
                    by_endpoint.setdefault(name, a.login)
        self._by_endpoint = by_endpoint

    async def refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_seconds)
            try:
                await self.load()
            except Exception as exc:  # the database is down: keep deciding from memory
                self.stats.refresh_errors += 1
                log.warning(
                    "routing could not reload agents and the rota (%s); using the last", exc
                )

    # --- decisions ------------------------------------------------------------------------------

    def situation(self) -> Situation:
        by_device, by_extension = self.devices.by_device, self.devices.by_extension
        devices: dict[str, DeviceState] = {}
        if by_device or by_extension:
            for login, (key, extension) in self._phones.items():
                state = by_device.get(key) or by_extension.get(extension)
                if state is not None:
                    devices[login] = state
        return Situation(
            agents=self.agents,
            presence=self.presence,
            devices=devices,
            calls=self.calls_in_progress(),
            rota=self.rota,
            last_offered=self.last_offered,
            shifts=self.shift_rows,
            calendar=self.calendar if self.calendar.rows else None,
        )

    def calls_in_progress(self) -> dict[str, int]:
        """Calls each agent is on (or rung for) now, from the call tracker's live legs: from its
        index by endpoint, so a decision costs the agents' phones in calls, not every live call."""
        index = (
            self._agent_calls()
            if self._agent_calls is not None
            else agent_calls_of(self._live_calls())
        )
        by_login: dict[str, set[str]] = {}
        for endpoint, calls in index.items():
            login = self._by_endpoint.get(endpoint)
            if login is not None and calls:
                by_login.setdefault(login, set()).update(calls)
        return {login: len(calls) for login, calls in by_login.items()}

    async def find_customer(self, caller: str) -> tuple[CustomerInfo | None, bool]:
        """(customer, degraded): a failing or slow lookup routes as an unknown caller."""
        if self._lookup is None or not caller:
            return None, False
        try:
            # a timeout scope, not wait_for: an in-memory lookup finishes without a task switch
            async with asyncio.timeout(self._lookup_timeout):
                return await self._lookup(caller), False
        except TimeoutError:
            log.warning(
                "caller lookup took over %.2f s: routing as an unknown caller", self._lookup_timeout
            )
        except Exception:
            log.exception("caller lookup failed: routing as an unknown caller")
        return None, True

    async def decide(
        self,
        caller: str,
        did: str,
        *,
        key: str | None = None,
        at: float | None = None,
        overrides: Iterable[Override] = (),
        record_offer: bool = True,
    ) -> RouteDecision:
        """The decision for one call. `key` (the channel's Linkedid or Uniqueid) keeps it for
        the call's record; `record_offer` counts the first agent as offered now (live calls)."""
        now = self._clock() if at is None else at
        customer, degraded = await self.find_customer(caller)
        situation = self.situation()
        overrides = list(overrides)
        if overrides:
            situation = apply_overrides(situation, overrides, now=now)
        decision = route_call(
            caller=caller,
            did=did,
            customer=customer,
            situation=situation,
            rules=self.rules,
            options=self.options,
            now=datetime.fromtimestamp(now, self.tz),
            degraded=degraded,
        )
        self.stats.decisions += 1
        self.stats.degraded += degraded
        if record_offer and decision.targets and decision.targets[0].agent:
            self.last_offered[decision.targets[0].agent] = now
        if key:
            self._remember(key, decision)
        return decision

    def _remember(self, key: str, decision: RouteDecision) -> None:
        self._decisions.pop(key, None)
        self._decisions[key] = decision
        while len(self._decisions) > self._memory:
            self._decisions.popitem(last=False)

    def decision_for(self, key: str) -> RouteDecision | None:
        """The decision kept for a call's Linkedid (or the Uniqueid the dialplan passed)."""
        return self._decisions.get(key)

    # --- agents' own states ---------------------------------------------------------------------

    async def set_state(
        self, login: str, state: AgentState, reason: str = "", *, actor: str = ""
    ) -> Presence:
        """Store and apply an agent's state (the repository refuses unknown logins)."""
        reason = reason.strip() if state is AgentState.PAUSED else ""
        presence = await self._store.set_state(login, state, reason, at=self._clock(), actor=actor)
        self.presence = {**self.presence, login: presence}
        for listener in self.state_listeners:
            try:
                listener(login, presence.state.value, presence.reason, presence.since)
            except Exception:
                log.exception("agent state listener failed")
        return presence

    def states(self) -> list[dict[str, Any]]:
        """Every agent's state now, with time in state, phone state and calls in progress."""
        now = self._clock()
        situation = self.situation()
        rows = []
        for login, agent in self.agents.items():
            presence = self.presence.get(login)
            device = situation.devices.get(login)
            calls = situation.calls.get(login, 0)
            verdict = assess(
                agent,
                presence=presence,
                device=device,
                calls=calls,
                default_state=self.options.default_state,
            )
            rows.append(
                views.state_row(
                    agent,
                    presence=presence,
                    device=device,
                    calls=calls,
                    verdict=verdict,
                    default_state=self.options.default_state,
                    now=now,
                )
            )
        return rows

    def on_duty(self, at: float | None = None) -> list[tuple[DutyShift, AgentProfile | None]]:
        when = datetime.fromtimestamp(self._clock() if at is None else at, self.tz)
        return [(s, self.agents.get(s.login)) for s in on_duty(self.rota, when)]

    def line_status(self, did: str, at: float | None = None) -> tuple[str, LineStatus]:
        """(the team the DID selects, whether that line is open at `at` and why)."""
        rule = self.rules.match(did)
        team = rule.team if rule is not None else self.rules.default_team
        when = datetime.fromtimestamp(self._clock() if at is None else at, self.tz)
        return team, self.calendar.status(did, team, when)

    def next_opening(self, did: str, at: datetime) -> datetime | None:
        """`at` if the DID's line is open then, else its next opening (None: not within a year)."""
        if not self.calendar.rows:
            return at
        rule = self.rules.match(did)
        team = rule.team if rule is not None else self.rules.default_team
        return self.calendar.next_opening(did, team, at)

    def shift_of(self, login: str, at: float | None = None) -> ShiftStatus | None:
        """Whether the agent is on shift at `at` (None: they have no shifts, always working)."""
        agent = self.agents.get(login)
        if agent is None:
            return None
        when = datetime.fromtimestamp(self._clock() if at is None else at, self.tz)
        return shift_status(self.shift_rows, agent, when, self.tz)

    async def apply_shift_edges(self, since: float, until: float) -> list[tuple[str, AgentState]]:
        """Agents whose shift started in (since, until] become available if they were offline;
        those whose shift ended become offline. Returns the states set."""
        edges = shift_edges(
            self.shift_rows,
            self.agents.values(),
            datetime.fromtimestamp(since, self.tz),
            datetime.fromtimestamp(until, self.tz),
            self.tz,
        )
        last: dict[str, bool] = {}
        for _, login, starts in edges:  # a short shift both started and ended: the end wins
            last[login] = starts
        changed: list[tuple[str, AgentState]] = []
        for login, starts in last.items():
            presence = self.presence.get(login)
            state = presence.state if presence is not None else self.options.default_state
            if starts and state is AgentState.OFFLINE:
                target = AgentState.AVAILABLE
            elif not starts and state is not AgentState.OFFLINE:
                target = AgentState.OFFLINE
            else:
                continue
            await self.set_state(login, target, actor="shift")
            changed.append((login, target))
        return changed

    async def follow_shifts_forever(
        self, *, leading: Callable[[], bool] = lambda: True, every: float = 30.0
    ) -> None:
        """shifts_set_state: states follow shifts; with several processes only the one that
        consumes AMI sets them, so each start or end is applied once."""
        last = self._clock()
        while True:
            await asyncio.sleep(every)
            now = self._clock()
            if leading():
                try:
                    for login, state in await self.apply_shift_edges(last, now):
                        log.info(
                            "%s is %s: their shift %s",
                            login,
                            state.value,
                            "started" if state is AgentState.AVAILABLE else "ended",
                        )
                except Exception:
                    log.exception("could not set agents' states from their shifts; retrying")
                    continue  # the same edges again next time
            last = now

    async def replace_agent_shifts(self, rows: Sequence[TimeRow], *, append: bool = False) -> int:
        if self._calendars is None:  # nothing stored (a test, a demo): memory only
            self.shift_rows = _numbered((*self.shift_rows, *rows) if append else rows)
            return len(rows)
        count = await self._calendars.replace_shift_rows(rows, append=append)
        self.shift_rows = tuple(await self._calendars.shift_rows())
        return count

    async def replace_line_hours(
        self, rows: Sequence[TimeRow], *, append: bool = False, only_dates: bool = False
    ) -> int:
        if self._calendars is None:
            kept = self.calendar.rows if append else ()
            if only_dates and not append:
                kept = tuple(r for r in self.calendar.rows if not r.is_exception)
            self.set_calendar(_numbered((*kept, *rows)))
            return len(rows)
        count = await self._calendars.replace_line_rows(rows, append=append, only_dates=only_dates)
        self.set_calendar(await self._calendars.line_rows())
        return count

    async def state_history(self, login: str, *, since: float, until: float) -> dict[str, Any]:
        """The agent's intervals in [since, until) and the time spent in each state/reason."""
        intervals = await self._store.state_history(login, since=since, until=until)
        return views.state_history(login, intervals, since=since, until=until, now=self._clock())

    # --- the duty rota: the database first, then memory -------------------------------------------

    async def add_shift(self, shift: DutyShift) -> DutyShift:
        stored = await self._store.add_shift(shift)
        self.rota = (*self.rota, stored)
        return stored

    async def update_shift(self, shift_id: int, shift: DutyShift) -> DutyShift:
        stored = await self._store.update_shift(shift_id, shift)
        self.rota = tuple(stored if s.id == shift_id else s for s in self.rota)
        return stored

    async def delete_shift(self, shift_id: int) -> None:
        await self._store.delete_shift(shift_id)
        self.rota = tuple(s for s in self.rota if s.id != shift_id)

    async def replace_rota(self, shifts: Sequence[DutyShift], *, append: bool = False) -> int:
        count = await self._store.replace_shifts(shifts, append=append)
        self.rota = tuple(await self._store.shifts())
        return count

    # --- AMI: phones' device states -------------------------------------------------------------

    def on_ami_event(self, event: AmiEvent) -> bool:
        """Take device-state events; False for everything else (call events)."""
        if not isinstance(event, DEVICE_EVENTS):
            return False
        self.devices.apply(event)
        return True

    def ami_connected(self) -> None:
        """AmiClient's on_connected: ask for every phone's state (DeviceStateList)."""
        self._resync.set()

    async def sync_devices_forever(
        self, action: Callable[[Mapping[str, Any]], Awaitable[Any]]
    ) -> None:
        """After every (re)connect: forget the phones' states and ask Asterisk for all of them."""
        warned = False
        while True:
            await self._resync.wait()
            self._resync.clear()
            self.devices = DeviceBook()  # stale after a disconnect; unknown phones are tried
            try:
                await action({"Action": "DeviceStateList"})
            except Exception as exc:
                if not warned:
                    hint = (
                        "give the AMI user write=reporting (docs/asterisk.md)"
                        if "permission" in str(exc).lower()
                        else "this PBX may not offer it"
                    )
                    log.warning(
                        "DeviceStateList failed (%s): phones' states stay unknown (and are "
                        "tried) until they change; %s",
                        exc,
                        hint,
                    )
                    warned = True

    # --- calls: offers and the stored record ----------------------------------------------------

    def on_call_effect(self, effect: Effect) -> None:
        """CallService's on_effect: every ring of an agent's phone is an offer."""
        if isinstance(effect, Ringing):
            login = self._by_endpoint.get(effect.agent)
            if login is not None:
                self.last_offered[login] = self._clock()

    def annotate(self, record: CallRecord) -> CallRecord:
        """A finished call gets the step of its routing decision that reached it; a miss on a
        closed line is out_of_hours."""
        decision = self._decisions.pop(record.linkedid, None)
        if decision is None:
            return record
        if decision.closed:
            record = closed_line(record)
        outcome = route_outcome(
            decision,
            answered_by=record.answered_by,
            agents_rung=record.agents_rung,
            agents=self.agents,
        )
        if outcome is None:  # no targets (an announcement): the miss kind says it all
            return record
        self.stats.annotated += 1
        return dataclasses.replace(
            record,
            route_kind=outcome.kind,
            route_reason=outcome.reason,
            fallback=outcome.fallback,
        )
