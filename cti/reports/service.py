"""Supervisor reports: who may see which figures, the database's tallies, KPIs per breakdown.

`Reports` is the one entry point of the CLI (`cti report`), the API (`/api/reports/...`) and the
benchmark. It decides the scope (a supervisor: everything, or one agent or DID on request; an
agent: only their own calls, callbacks and states, whatever they ask), runs the GROUP BY queries
of `cti.reports.queries` and turns the rows into figures with the pure `cti.reports.kpi`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.reports import queries
from cti.reports.kpi import CallbackTally, Tally, callback_figures, figures, goals
from cti.reports.occupancy import ShiftTime, occupancy, shift_time
from cti.reports.period import Period, ReportError, check_breakdown, office_zone, resolve_period
from cti.routing.model import AgentProfile
from cti.routing.rules import DidRules
from cti.routing.schedules import ScheduleError
from cti.routing.shifts import merged, shift_levels
from cti.routing.timetable import make_row

#: the agent states whose time is reported (cti.routing), in the order shown
STATES: tuple[str, ...] = ("available", "paused", "dnd", "offline")


class ReportDenied(Exception):
    """An agent asked for someone else's figures (no HTTP code here: the web edge maps it)."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who asks: supervisors and administrators see everything, an agent their own figures."""

    login: str
    everything: bool
    extensions: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """What is asked: the period's parameters as given, and optional filters."""

    period: str | None = None
    on: str | None = None
    start: str | None = None
    end: str | None = None
    did: str | None = None
    agent: str | None = None  #: login or extension (supervisors only; an agent gets their own)
    names: tuple[str, str] = ("from", "to")  #: how the caller spells the range's parameters


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Reports:
    """KPIs of inbound calls, callbacks and agents' time, over office-time periods."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        timezone: str,
        threshold_seconds: float = 20.0,
        callback_sla_minutes: float = 5.0,
        did_rules: DidRules | None = None,
        clock: Callable[[], datetime] = _utc_now,
        default_state: str = "available",
    ) -> None:
        office_zone(timezone)  # a bad zone fails at start, not at the first report
        self._sessions = sessions
        self.timezone = timezone
        self.threshold = float(threshold_seconds)
        self.sla_seconds = float(callback_sla_minutes) * 60.0
        self._rules = did_rules or DidRules()
        self._clock = clock
        self.default_state = default_state if default_state in STATES else "available"

    def period(self, q: ReportQuery) -> Period:
        today = self._clock().astimezone(office_zone(self.timezone)).date()
        return resolve_period(
            today=today,
            timezone=self.timezone,
            period=q.period,
            on=q.on,
            start=q.start,
            end=q.end,
            names=q.names,
        )

    async def summary(self, q: ReportQuery, viewer: Viewer) -> dict[str, Any]:
        """Every KPI of the period in one flat `figures` object, with the goals' colours."""
        period = self.period(q)
        now = self._clock()
        async with self._sessions() as session:
            scope, shown = await self._scope(session, q, viewer, period)
            tallies = await queries.call_tallies(session, scope)
            callbacks = await queries.callback_tallies(
                session, scope, now, sla_seconds=self.sla_seconds
            )
            states = await queries.state_seconds(session, scope, now)
            shifts = await self._shift_times(session, scope, now)
        tally = tallies.get(0, Tally())
        on_shift = sum(t.on_shift for t in shifts.values()) if shifts else None
        values = {
            **figures(tally),
            **callback_figures(callbacks.get(None, CallbackTally())),
            **_state_columns(_sum_states(self._with_shifts(states, shifts).values())),
            "time_on_shift": on_shift,
            "occupancy": occupancy(tally.talk_sum, on_shift),
        }
        return {**self._head(period, q, shown), "figures": values, "goals": goals(values)}

    async def breakdown(self, q: ReportQuery, viewer: Viewer, by: str) -> dict[str, Any]:
        """The figures split by agent, DID, team, hour of day or day (every hour and day listed)."""
        checked = check_breakdown(by)
        period = self.period(q)
        now = self._clock()
        async with self._sessions() as session:
            scope, shown = await self._scope(session, q, viewer, period)
            if checked == "agent":
                rows = await self._by_agent(session, scope, now)
            elif checked in ("did", "team"):
                rows = self._by_did(
                    await queries.call_tallies(session, scope, "did"), team=checked == "team"
                )
            elif checked == "hour":
                tallies = await queries.call_tallies(session, scope, "hour")
                rows = [
                    {"hour": h, "label": f"{h:02d}:00", **figures(tallies.get(h, Tally()))}
                    for h in range(24)
                ]
            else:
                tallies = await queries.call_tallies(session, scope, "day")
                rows = [
                    {
                        "day": d.isoformat(),
                        "label": d.isoformat(),
                        **figures(tallies.get(d.isoformat(), Tally())),
                    }
                    for d in period.days
                ]
        for row in rows:
            row["goals"] = {name: g["status"] for name, g in goals(row).items()}
        return {**self._head(period, q, shown), "by": checked, "rows": rows}

    def _head(self, period: Period, q: ReportQuery, agent: str | None) -> dict[str, Any]:
        return {
            "period": period.to_json(),
            "filters": {"did": q.did or None, "agent": agent},
            "settings": {
                "service_level_seconds": self.threshold,
                "callback_sla_minutes": self.sla_seconds / 60,
                "timezone": self.timezone,
            },
        }

    async def agent(self, login_or_extension: str) -> tuple[str, frozenset[str]]:
        """An agent's login and phones (as calls name them) from a login or an extension."""
        async with self._sessions() as session:
            for login, _name, extension, device in await queries.agents(session):
                if login_or_extension in (login, extension):
                    return login, _phones(extension, device)
        raise ReportError(
            "agent", f"no agent with login or extension {login_or_extension!r}; see `cti user list`"
        )

    async def _scope(
        self, session: AsyncSession, q: ReportQuery, viewer: Viewer, period: Period
    ) -> tuple[queries.CallScope, str | None]:
        """The calls the viewer may see; an agent's filter is always themselves."""
        base = queries.CallScope(period=period, threshold=self.threshold, did=q.did or None)
        if not viewer.everything:
            if q.agent and q.agent != viewer.login and q.agent not in viewer.extensions:
                raise ReportDenied("agents see only their own figures")
            return replace(base, extensions=viewer.extensions, login=viewer.login), viewer.login
        if not q.agent:
            return base, None
        for login, _name, extension, device in await queries.agents(session):
            if q.agent in (login, extension):
                return replace(base, extensions=_phones(extension, device), login=login), login
        raise ReportError(
            "agent", f"no agent with login or extension {q.agent!r}; see `cti user list`"
        )

    async def _by_agent(
        self, session: AsyncSession, scope: queries.CallScope, now: datetime
    ) -> list[dict[str, Any]]:
        tallies = await queries.agent_tallies(session, scope)
        callbacks = await queries.callback_tallies(
            session, scope, now, sla_seconds=self.sla_seconds, by_owner=True
        )
        states = self._with_shifts(
            await queries.state_seconds(session, scope, now),
            shifts := await self._shift_times(session, scope, now),
        )
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        for login, name, extension, device in await queries.agents(session):
            if scope.login is not None and login != scope.login:
                continue
            phones = _phones(extension, device)
            tally = sum((tallies[p] for p in phones if p in tallies), Tally())
            seen |= phones
            row = _agent_row(
                login, name, extension, tally, callbacks.get(login), states.get(login, {})
            )
            on_shift = shifts[login].on_shift if login in shifts else None
            row["time_on_shift"] = on_shift
            row["occupancy"] = occupancy(tally.talk_sum, on_shift)
            rows.append(row)
        for ext in sorted(set(tallies) - seen):  # rang but not in the directory (yet)
            row = _agent_row(None, ext, ext, tallies[ext], None, {})
            rows.append({**row, "time_on_shift": None, "occupancy": None})
        return rows

    async def _shift_times(
        self, session: AsyncSession, scope: queries.CallScope, now: datetime
    ) -> dict[str, ShiftTime]:
        """Each agent with shifts: their shift time in the period and the part of it no state
        interval covers."""
        written = await queries.shift_rows(session)
        if not written:
            return {}
        rows = []
        for who, days, hours, note in written:
            try:
                rows.append(make_row(who, days, hours, note))
            except ScheduleError:
                continue  # rows are checked when written; an old bad one is left out
        teams = await queries.agent_teams(session)
        if scope.login is not None:
            teams = {k: v for k, v in teams.items() if k == scope.login}
        tz = office_zone(self.timezone)
        until = min(scope.period.end, max(now, scope.period.start))
        spans: dict[str, list[tuple[datetime, datetime]]] = {}
        for login, names in teams.items():
            levels = shift_levels(rows, AgentProfile(login, teams=frozenset(names)))
            if levels:
                spans[login] = merged(levels, scope.period.start, until, tz)
        covered = await queries.state_spans(session, scope, now, spans)
        return {login: shift_time(s, covered.get(login, [])) for login, s in spans.items()}

    def _with_shifts(
        self, states: dict[str, dict[str, float]], shifts: dict[str, ShiftTime]
    ) -> dict[str, dict[str, float]]:
        """Shift time with no state set counts as the default state (available)."""
        out = {login: dict(values) for login, values in states.items()}
        for login, t in shifts.items():
            if t.unrecorded > 0:
                mine = out.setdefault(login, {})
                mine[self.default_state] = round(
                    mine.get(self.default_state, 0.0) + t.unrecorded, 1
                )
        return out

    def _by_did(self, tallies: dict[Any, Tally], *, team: bool) -> list[dict[str, Any]]:
        if not team:
            return [
                {"did": did, "team": self._team(did), "label": did or "-", **figures(t)}
                for did, t in sorted(tallies.items(), key=lambda kv: (-kv[1].offered, str(kv[0])))
            ]
        teams: dict[str, Tally] = {}
        for did, t in tallies.items():
            name = self._team(did)
            teams[name] = teams.get(name, Tally()) + t
        return [
            {"team": name, "label": name or "-", **figures(t)}
            for name, t in sorted(teams.items(), key=lambda kv: (-kv[1].offered, kv[0]))
        ]

    def _team(self, did: str) -> str:
        rule = self._rules.match(did or "")
        return rule.team if rule is not None else self._rules.default_team


def _phones(extension: str, device: str) -> frozenset[str]:
    """How an agent appears in `agents_rung` / `answered_by`: extension or device endpoint name."""
    names = {extension, device.rpartition("/")[2] if device else ""}
    names.discard("")
    return frozenset(names)


def _sum_states(per_login: Any) -> dict[str, float]:
    total: dict[str, float] = {}
    for states in per_login:
        for state, seconds in states.items():
            total[state] = round(total.get(state, 0.0) + seconds, 1)
    return total


def _state_columns(states: dict[str, float]) -> dict[str, float]:
    return {f"time_{state}": states.get(state, 0.0) for state in STATES}


def _agent_row(
    login: str | None,
    name: str,
    extension: str,
    tally: Tally,
    callbacks: CallbackTally | None,
    states: dict[str, float],
) -> dict[str, Any]:
    return {
        "login": login,
        "name": name,
        "extension": extension,
        "label": name or login or extension,
        **figures(tally),
        **callback_figures(callbacks or CallbackTally()),
        **_state_columns(states),
    }


__all__ = ["STATES", "ReportDenied", "ReportQuery", "Reports", "Viewer"]
