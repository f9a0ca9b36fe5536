"""CalendarRepository: agents' shifts and lines' calendars, stored as written."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.db.calendar_models import AgentShiftRow, LineHoursRow
from cti.db.models import Agent
from cti.db.session import writing
from cti.routing.model import UnknownAgent
from cti.routing.shifts import TEAM_PREFIX
from cti.routing.timetable import TimeRow, make_row


class UnknownRow(LookupError):
    """No calendar row has this id."""

    def __init__(self, kind: str, row_id: int) -> None:
        super().__init__(f"no {kind} row with id {row_id}")
        self.row_id = row_id


def _shift(row: AgentShiftRow) -> TimeRow:
    return make_row(row.who, row.days, row.hours, row.note, id=row.id)


def _line(row: LineHoursRow) -> TimeRow:
    return make_row(row.line, row.days, row.hours, row.name, id=row.id)


class CalendarRepository:
    def __init__(self, *, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory

    # --- agents' shifts ---------------------------------------------------------------------

    async def shift_rows(self) -> list[TimeRow]:
        async with self._sessions() as session:
            rows = (await session.scalars(select(AgentShiftRow).order_by(AgentShiftRow.id))).all()
        return [_shift(r) for r in rows]

    async def add_shift_row(self, row: TimeRow) -> TimeRow:
        async with writing(self._sessions) as session:
            await _require_agents(session, [row])
            stored = AgentShiftRow(who=row.owner, days=row.days, hours=row.hours, note=row.label)
            session.add(stored)
            await session.flush()
            return _shift(stored)

    async def delete_shift_row(self, row_id: int) -> None:
        async with writing(self._sessions) as session:
            result = await session.execute(delete(AgentShiftRow).where(AgentShiftRow.id == row_id))
            if not cast(CursorResult[Any], result).rowcount:
                raise UnknownRow("shift", row_id)

    async def replace_shift_rows(self, rows: Sequence[TimeRow], *, append: bool = False) -> int:
        """The shifts become `rows` (or get them added), in one transaction; unknown logins
        refuse the whole set."""
        async with writing(self._sessions) as session:
            await _require_agents(session, rows)
            if not append:
                await session.execute(delete(AgentShiftRow))
            session.add_all(
                AgentShiftRow(who=r.owner, days=r.days, hours=r.hours, note=r.label) for r in rows
            )
        return len(rows)

    # --- lines' business hours and holidays -------------------------------------------------

    async def line_rows(self) -> list[TimeRow]:
        async with self._sessions() as session:
            rows = (await session.scalars(select(LineHoursRow).order_by(LineHoursRow.id))).all()
        return [_line(r) for r in rows]

    async def add_line_row(self, row: TimeRow) -> TimeRow:
        async with writing(self._sessions) as session:
            stored = LineHoursRow(line=row.owner, days=row.days, hours=row.hours, name=row.label)
            session.add(stored)
            await session.flush()
            return _line(stored)

    async def delete_line_row(self, row_id: int) -> None:
        async with writing(self._sessions) as session:
            result = await session.execute(delete(LineHoursRow).where(LineHoursRow.id == row_id))
            if not cast(CursorResult[Any], result).rowcount:
                raise UnknownRow("business hours", row_id)

    async def replace_line_rows(
        self, rows: Sequence[TimeRow], *, append: bool = False, only_dates: bool = False
    ) -> int:
        """The calendar becomes `rows` (or gets them added); `only_dates` replaces the dated
        rows (holidays, shortened days) and keeps the weekly hours."""
        async with writing(self._sessions) as session:
            if not append:
                existing = (await session.scalars(select(LineHoursRow))).all()
                for old in existing:
                    if not only_dates or _line(old).is_exception:
                        await session.delete(old)
            session.add_all(
                LineHoursRow(line=r.owner, days=r.days, hours=r.hours, name=r.label) for r in rows
            )
        return len(rows)


async def _require_agents(session: AsyncSession, rows: Sequence[TimeRow]) -> None:
    logins = {r.owner for r in rows if not r.owner.startswith(TEAM_PREFIX)}
    if not logins:
        return
    known = set((await session.scalars(select(Agent.login).where(Agent.login.in_(logins)))).all())
    missing = sorted(logins - known)
    if missing:
        raise UnknownAgent(missing[0])


__all__ = ["CalendarRepository", "UnknownRow"]
