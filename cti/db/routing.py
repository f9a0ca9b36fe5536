"""RoutingRepository: agents as routing sees them, state intervals, the duty rota."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.db.models import Agent
from cti.db.routing_models import AgentStateRow, DutyShiftRow
from cti.db.session import writing
from cti.routing.model import (
    AgentProfile,
    AgentState,
    Presence,
    StateInterval,
    UnknownAgent,
    UnknownShift,
)
from cti.routing.schedules import DutyShift, clock_text, make_shift


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _ts(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def agent_profile(row: Agent) -> AgentProfile:
    """The directory's agent row as routing's input type."""
    teams = getattr(row, "teams", None) or []
    return AgentProfile(
        login=row.login,
        name=row.name or "",
        extension=row.extension or "",
        device=row.device or "",
        mobile=row.mobile or "",
        teams=frozenset(str(t) for t in teams),
        seniority=int(getattr(row, "seniority", 0) or 0),
        max_calls=int(getattr(row, "max_calls", 1) or 1),
    )


def shift_from_row(row: DutyShiftRow) -> DutyShift:
    return make_shift(row.login or "nobody", row.days, row.start_time, row.end_time, id=row.id)


class RoutingRepository:
    """What routing reads and writes in the database."""

    def __init__(self, *, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory

    # --- agents ---------------------------------------------------------------------------------

    async def agents(self) -> list[AgentProfile]:
        """Every agent, in login order."""
        async with self._sessions() as session:
            rows = (await session.scalars(select(Agent).order_by(Agent.login))).all()
            return [agent_profile(row) for row in rows]

    async def _require_agent(self, session: AsyncSession, login: str) -> None:
        if await session.scalar(select(Agent.id).where(Agent.login == login)) is None:
            raise UnknownAgent(login)

    # --- agent states ---------------------------------------------------------------------------

    async def current_states(self) -> dict[str, Presence]:
        """The open interval of every agent who ever set a state."""
        query = select(AgentStateRow).where(AgentStateRow.ended_at.is_(None))
        async with self._sessions() as session:
            rows = (await session.scalars(query.order_by(AgentStateRow.id))).all()
        return {r.login: Presence(AgentState(r.state), r.reason, _ts(r.started_at)) for r in rows}

    async def set_state(
        self, login: str, state: AgentState, reason: str, *, at: float, actor: str = ""
    ) -> Presence:
        """Close the agent's open interval and open a new one; the same state again is kept
        as it is (its time in state keeps running)."""
        async with writing(self._sessions) as session:
            await self._require_agent(session, login)
            open_rows = (
                await session.scalars(
                    select(AgentStateRow)
                    .where(AgentStateRow.login == login, AgentStateRow.ended_at.is_(None))
                    .order_by(AgentStateRow.id)
                    .with_for_update()
                )
            ).all()
            if (
                len(open_rows) == 1
                and open_rows[0].state == state.value
                and open_rows[0].reason == reason
            ):
                row = open_rows[0]
                return Presence(state, reason, _ts(row.started_at))
            started = at
            for row in open_rows:
                # an interval never ends before it started, even if clocks disagree
                started = max(started, _ts(row.started_at))
            await session.execute(
                update(AgentStateRow)
                .where(AgentStateRow.login == login, AgentStateRow.ended_at.is_(None))
                .values(ended_at=_dt(started))
            )
            session.add(
                AgentStateRow(
                    login=login,
                    state=state.value,
                    reason=reason,
                    started_at=_dt(started),
                    ended_at=None,
                    actor=actor,
                )
            )
        return Presence(state, reason, started)

    async def state_history(self, login: str, *, since: float, until: float) -> list[StateInterval]:
        """The intervals of `login` that overlap [since, until), clipped to it, oldest first."""
        query = (
            select(AgentStateRow)
            .where(
                AgentStateRow.login == login,
                AgentStateRow.started_at < _dt(until),
                (AgentStateRow.ended_at.is_(None)) | (AgentStateRow.ended_at > _dt(since)),
            )
            .order_by(AgentStateRow.started_at, AgentStateRow.id)
        )
        async with self._sessions() as session:
            await self._require_agent(session, login)
            rows = (await session.scalars(query)).all()
        out = []
        for r in rows:
            start = max(_ts(r.started_at), since)
            end = min(_ts(r.ended_at), until) if r.ended_at is not None else None
            out.append(StateInterval(r.login, AgentState(r.state), r.reason, start, end, r.actor))
        return out

    # --- duty rota ------------------------------------------------------------------------------

    async def shifts(self) -> list[DutyShift]:
        async with self._sessions() as session:
            rows = (await session.scalars(select(DutyShiftRow).order_by(DutyShiftRow.id))).all()
        return [shift_from_row(r) for r in rows]

    async def add_shift(self, shift: DutyShift) -> DutyShift:
        async with writing(self._sessions) as session:
            if shift.login:
                await self._require_agent(session, shift.login)
            row = _row(shift)
            session.add(row)
            await session.flush()
            return shift_from_row(row)

    async def update_shift(self, shift_id: int, shift: DutyShift) -> DutyShift:
        async with writing(self._sessions) as session:
            row = await session.get(DutyShiftRow, shift_id)
            if row is None:
                raise UnknownShift(shift_id)
            if shift.login:
                await self._require_agent(session, shift.login)
            row.login, row.days = shift.login, shift.days
            row.start_time, row.end_time = clock_text(shift.start), clock_text(shift.end)
            return shift_from_row(row)

    async def delete_shift(self, shift_id: int) -> None:
        async with writing(self._sessions) as session:
            result = await session.execute(delete(DutyShiftRow).where(DutyShiftRow.id == shift_id))
            if not cast(CursorResult[Any], result).rowcount:
                raise UnknownShift(shift_id)

    async def replace_shifts(self, shifts: Sequence[DutyShift], *, append: bool = False) -> int:
        """The rota becomes `shifts` (or gets them added), in one transaction."""
        async with writing(self._sessions) as session:
            logins = {s.login for s in shifts if s.login}
            if logins:
                known = set(
                    (
                        await session.scalars(select(Agent.login).where(Agent.login.in_(logins)))
                    ).all()
                )
                missing = sorted(logins - known)
                if missing:
                    raise UnknownAgent(missing[0])
            if not append:
                await session.execute(delete(DutyShiftRow))
            session.add_all(_row(s) for s in shifts)
        return len(shifts)

    async def agent_logins(self) -> set[str]:
        async with self._sessions() as session:
            return set((await session.scalars(select(Agent.login))).all())


def _row(shift: DutyShift) -> DutyShiftRow:
    return DutyShiftRow(
        login=shift.login,
        days=shift.days,
        start_time=clock_text(shift.start),
        end_time=clock_text(shift.end),
    )


__all__ = ["RoutingRepository", "agent_profile"]
