"""SQL of the reports: inbound calls, callbacks and agents' states added up in the database.

Every figure is a GROUP BY in SQL (a year of a busy centre is a million calls); Python only
turns the few grouped rows into KPIs (`cti.reports.kpi`). Hours and days are the office's:
PostgreSQL converts with `timezone()`, SQLite with the zone's UTC offsets over the period
(`period.utc_offsets`), so both agree across a DST change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy import Text as SqlText
from sqlalchemy.ext.asyncio import AsyncSession

from cti.db.calendar_models import AgentShiftRow
from cti.db.missed_models import CallbackRow
from cti.db.models import Agent, CallRow, UTCDateTime
from cti.db.routing_models import AgentStateRow
from cti.reports.kpi import MISSED_KINDS, CallbackTally, Tally
from cti.reports.period import Period, utc_offsets


@dataclass(frozen=True, slots=True)
class CallScope:
    """Which inbound calls count: the period, a DID, and whose (None: everybody's)."""

    period: Period
    threshold: float  #: service-level T, seconds (inclusive)
    did: str | None = None
    extensions: frozenset[str] | None = None  #: only calls that rang or were answered by these
    login: str | None = None  #: only this agent's callbacks and states


def _pg(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _stamp(value: datetime) -> ColumnElement[Any]:
    return literal(value, UTCDateTime())


def _offset(column: Any, period: Period) -> Any:
    """The office zone's UTC offset (seconds) at `column`'s instant, from the period's segments."""
    segments = utc_offsets(period)
    if len(segments) == 1:
        return literal(segments[0][1])
    whens = [
        (column < _stamp(segments[i + 1][0]), literal(segments[i][1]))
        for i in range(len(segments) - 1)
    ]
    return case(*whens, else_=literal(segments[-1][1]))


def local_seconds(session: AsyncSession, column: Any, period: Period) -> ColumnElement[Any]:
    """`column` (UTC) as seconds since 1970-01-01 00:00 office wall-clock time.

    The same arithmetic on both databases, with the offsets computed in Python for the period
    (a time-zone lookup per row costs PostgreSQL more than the whole aggregate)."""
    utc: Any
    if _pg(session):
        utc = func.date_part("epoch", column)
    else:
        utc = cast(
            func.strftime("%s", column), Integer
        )  # whole seconds: julianday's float drifts below 13:00
    return utc + _offset(column, period)


def _whole(session: AsyncSession, value: Any) -> Any:
    # floor of a non-negative number: PostgreSQL's cast rounds, SQLite's truncates
    return cast(func.floor(value), BigInteger) if _pg(session) else cast(value, Integer)


def hour_of(session: AsyncSession, column: Any, period: Period) -> ColumnElement[Any]:
    """The office hour (0-23) of `column`."""
    return _whole(session, local_seconds(session, column, period) / 3600.0) % 24


def day_of(session: AsyncSession, column: Any, period: Period) -> ColumnElement[Any]:
    """The office day of `column`, as days since 1970-01-01 (`epoch_day` turns it into a date)."""
    return _whole(session, local_seconds(session, column, period) / 86400.0)


def epoch_day(days: int) -> date:
    return date(1970, 1, 1) + timedelta(days=int(days))


def _mentions(column: Any, extensions: frozenset[str]) -> ColumnElement[bool]:
    # the JSON text of the list holds `"101"` with its quotes, so 1010 is not 101 (cti.db.calls)
    return or_(
        *(
            cast(column, SqlText).contains(json.dumps(ext), autoescape=True)
            for ext in sorted(extensions)
        )
    )


def _call_filter(scope: CallScope) -> ColumnElement[bool]:
    c = CallRow.__table__.c
    conditions: list[ColumnElement[bool]] = [
        c.direction == "inbound",
        c.started_at >= _stamp(scope.period.start),
        c.started_at < _stamp(scope.period.end),
    ]
    if scope.did:
        conditions.append(c.did == scope.did)
    if scope.extensions is not None:
        if not scope.extensions:
            conditions.append(literal(False))
        else:
            conditions.append(
                or_(
                    _mentions(c.agents_rung, scope.extensions),
                    _mentions(c.answered_by, scope.extensions),
                )
            )
    return and_(*conditions)


def _tally_columns(threshold: float) -> list[Any]:
    c = CallRow.__table__.c
    answered = c.outcome == "answered"
    missed = c.outcome == "missed"
    fallback = c.fallback == true()

    def count_if(condition: ColumnElement[bool]) -> Any:
        return func.count().filter(condition)

    return [
        func.count().label("offered"),
        count_if(answered).label("answered"),
        count_if(and_(answered, c.wait_seconds <= threshold)).label("answered_within"),
        *(count_if(and_(missed, c.missed_kind == kind)).label(kind) for kind in MISSED_KINDS),
        count_if(and_(missed, c.missed_kind == "abandoned", c.short_abandon == true())).label(
            "short_abandons"
        ),
        func.sum(c.wait_seconds).label("wait_sum"),
        func.max(c.wait_seconds).label("wait_max"),
        func.sum(c.wait_seconds).filter(answered).label("answer_wait_sum"),
        func.sum(c.talk_seconds).filter(answered).label("talk_sum"),
        count_if(fallback).label("fallbacks"),
        count_if(and_(fallback, c.route_kind == "duty")).label("duty_fallbacks"),
    ]


async def call_tallies(
    session: AsyncSession, scope: CallScope, by: str | None = None
) -> dict[Any, Tally]:
    """Tallies of inbound calls, grouped by None (one), "hour", "day" or "did"."""
    c = CallRow.__table__.c
    key: Any
    if by is None:
        key = literal_column("0")
    elif by == "hour":
        key = hour_of(session, c.started_at, scope.period)
    elif by == "day":
        key = day_of(session, c.started_at, scope.period)
    elif by == "did":
        key = c.did
    else:
        raise ValueError(f"call_tallies cannot group by {by!r}")
    query: Select[Any] = select(key.label("key"), *_tally_columns(scope.threshold)).where(
        _call_filter(scope)
    )
    if by is not None:
        query = query.group_by(key)
    rows = (await session.execute(query)).mappings().all()
    result: dict[Any, Tally] = {}
    for row in rows:
        if by is None and not row["offered"]:
            continue
        k = row["key"]
        if by == "hour":
            k = int(k)
        elif by == "day":
            k = epoch_day(k).isoformat()
        result[k] = Tally.from_row(row)
    return result


def _elements(session: AsyncSession, column: Any) -> Any:
    """The extensions in a JSON list column, one row each."""
    name = "json_array_elements_text" if _pg(session) else "json_each"
    return getattr(func, name)(column).table_valued("value").alias("ext")


async def agent_tallies(session: AsyncSession, scope: CallScope) -> dict[str, Tally]:
    """Per extension: calls offered to it (rung) and calls it answered; merged into one tally."""
    c = CallRow.__table__.c
    calls = CallRow.__table__
    answered = c.outcome == "answered"
    missed = c.outcome == "missed"
    rung = _elements(session, c.agents_rung)
    rung_query = (
        select(
            rung.c.value.label("ext"),
            func.count().label("offered"),
            *(
                func.count().filter(and_(missed, c.missed_kind == kind)).label(kind)
                for kind in MISSED_KINDS
            ),
            func.count()
            .filter(and_(missed, c.missed_kind == "abandoned", c.short_abandon == true()))
            .label("short_abandons"),
            func.sum(c.wait_seconds).label("wait_sum"),
            func.max(c.wait_seconds).label("wait_max"),
        )
        .select_from(calls.join(rung, true()))
        .where(_call_filter(scope))
        .group_by(rung.c.value)
    )
    took = _elements(session, c.answered_by)
    fallback = c.fallback == true()
    answered_query = (
        select(
            took.c.value.label("ext"),
            func.count().label("answered"),
            func.count().filter(c.wait_seconds <= scope.threshold).label("answered_within"),
            func.sum(c.wait_seconds).label("answer_wait_sum"),
            func.sum(c.talk_seconds).label("talk_sum"),
            func.count().filter(fallback).label("fallbacks"),
            func.count().filter(and_(fallback, c.route_kind == "duty")).label("duty_fallbacks"),
        )
        .select_from(calls.join(took, true()))
        .where(_call_filter(scope), answered)
        .group_by(took.c.value)
    )
    merged: dict[str, dict[str, Any]] = {}
    for query in (rung_query, answered_query):
        for row in (await session.execute(query)).mappings().all():
            merged.setdefault(str(row["ext"]), {}).update(row)
    tallies = {ext: Tally.from_row(values) for ext, values in merged.items()}
    if scope.extensions is not None:
        tallies = {ext: t for ext, t in tallies.items() if ext in scope.extensions}
    return tallies


def _seconds_between(session: AsyncSession, later: Any, earlier: Any) -> ColumnElement[Any]:
    if _pg(session):
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


async def state_seconds(
    session: AsyncSession, scope: CallScope, now: datetime
) -> dict[str, dict[str, float]]:
    """Seconds each agent (login) spent in each state within the period (up to `now`)."""
    s = AgentStateRow.__table__.c
    period = scope.period
    until = min(period.end, max(now, period.start))
    end, start = _stamp(until), _stamp(period.start)
    if _pg(session):
        stop, begin = (
            func.least(func.coalesce(s.ended_at, end), end),
            func.greatest(s.started_at, start),
        )
    else:
        stop, begin = func.min(func.coalesce(s.ended_at, end), end), func.max(s.started_at, start)
    query = (
        select(s.login, s.state, func.sum(_seconds_between(session, stop, begin)).label("seconds"))
        .where(s.started_at < end, or_(s.ended_at.is_(None), s.ended_at > start))
        .group_by(s.login, s.state)
    )
    if scope.login is not None:
        query = query.where(s.login == scope.login)
    result: dict[str, dict[str, float]] = {}
    for login, state, seconds in (await session.execute(query)).all():
        if seconds and seconds > 0:
            result.setdefault(login, {})[state] = round(float(seconds), 1)
    return result


async def state_spans(
    session: AsyncSession, scope: CallScope, now: datetime, logins: Iterable[str]
) -> dict[str, list[tuple[datetime, datetime]]]:
    """Each agent's state intervals overlapping the period (up to `now`), as (start, end)."""
    wanted = sorted(set(logins))
    if not wanted:
        return {}
    s = AgentStateRow.__table__.c
    until = min(scope.period.end, max(now, scope.period.start))
    end, start = _stamp(until), _stamp(scope.period.start)
    query = select(s.login, s.started_at, s.ended_at).where(
        s.started_at < end,
        or_(s.ended_at.is_(None), s.ended_at > start),
        s.login.in_(wanted),
    )
    out: dict[str, list[tuple[datetime, datetime]]] = {}
    for login, began, ended in (await session.execute(query)).all():
        out.setdefault(login, []).append((_aware(began), _aware(ended) if ended else until))
    return out


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def callback_tallies(
    session: AsyncSession,
    scope: CallScope,
    now: datetime,
    *,
    sla_seconds: float,
    by_owner: bool = False,
) -> dict[str | None, CallbackTally]:
    """Callbacks made by misses in the period: counts by state, and the times to resolution
    (median and p90 by PostgreSQL's percentile_cont; SQLite has none, so it sends the times)."""
    cb = CallbackRow.__table__.c
    missed_at = func.coalesce(cb.first_missed_at, cb.created_at)
    owner: Any = cb.owner_login if by_owner else literal_column("''")
    where = [
        cb.source == "missed_call",
        missed_at >= _stamp(scope.period.start),
        missed_at < _stamp(scope.period.end),
    ]
    if scope.did:
        where.append(cb.did == scope.did)
    if scope.login is not None:
        where.append(cb.owner_login == scope.login)
    is_open = cb.state == "open"
    resolved = and_(cb.state == "resolved", cb.resolved_at.is_not(None))
    seconds = _seconds_between(session, cb.resolved_at, missed_at)
    columns = [
        owner.label("owner"),
        func.count().label("total"),
        func.count().filter(is_open).label("open"),
        func.count().filter(and_(is_open, cb.deadline_at < _stamp(now))).label("overdue"),
        func.count().filter(and_(resolved, cb.resolved_at <= cb.deadline_at)).label("on_time"),
    ]
    pg = _pg(session)
    if pg:
        kept = case(
            (resolved, func.greatest(seconds, 0.0))
        )  # NULL for the others: percentile_cont skips them
        columns += [
            func.count().filter(resolved).label("resolved"),
            func.count().filter(and_(resolved, seconds <= sla_seconds)).label("within_sla"),
            func.percentile_cont(0.5).within_group(kept).label("median"),
            func.percentile_cont(0.9).within_group(kept).label("p90"),
        ]
    counts = select(*columns).where(*where)
    if by_owner:
        counts = counts.group_by(owner)
    times: dict[str | None, list[float]] = {}
    if not pg:
        durations = select(owner.label("owner"), seconds.label("seconds")).where(*where, resolved)
        for each in (await session.execute(durations)).all():
            times.setdefault(each.owner if by_owner else None, []).append(
                max(0.0, float(each.seconds))
            )
    result: dict[str | None, CallbackTally] = {}
    for counted in (await session.execute(counts)).mappings().all():
        row: Any = counted
        key = row["owner"] if by_owner else None
        if pg:
            result[key] = CallbackTally(
                total=row["total"],
                open=row["open"],
                overdue=row["overdue"],
                on_time=row["on_time"],
                resolved=row["resolved"],
                within_sla=row["within_sla"],
                median=None if row["median"] is None else float(row["median"]),
                p90=None if row["p90"] is None else float(row["p90"]),
            )
        else:
            result[key] = CallbackTally.of(
                total=row["total"],
                open=row["open"],
                overdue=row["overdue"],
                on_time=row["on_time"],
                durations=times.get(key, ()),
                sla_seconds=sla_seconds,
            )
    return result


async def agents(session: AsyncSession) -> Sequence[Any]:
    """login, name, extension, device of every agent of the directory."""
    query = select(Agent.login, Agent.name, Agent.extension, Agent.device).order_by(Agent.login)
    return (await session.execute(query)).all()


async def shift_rows(session: AsyncSession) -> Sequence[Any]:
    """who, days, hours, note of every row of agents' shifts."""
    query = select(AgentShiftRow.who, AgentShiftRow.days, AgentShiftRow.hours, AgentShiftRow.note)
    return (await session.execute(query.order_by(AgentShiftRow.id))).all()


async def agent_teams(session: AsyncSession) -> dict[str, list[str]]:
    """Every agent's teams, by login."""
    rows = (await session.execute(select(Agent.login, Agent.teams))).all()
    return {login: [str(t) for t in (teams or [])] for login, teams in rows}


async def count_calls(session: AsyncSession) -> int:
    """Plain COUNT(*) of the calls table: the benchmark's baseline."""
    return int(
        (await session.execute(select(func.count()).select_from(CallRow.__table__))).scalar_one()
    )


__all__ = [
    "CallScope",
    "agent_tallies",
    "agents",
    "call_tallies",
    "callback_tallies",
    "count_calls",
    "day_of",
    "epoch_day",
    "hour_of",
    "local_seconds",
    "shift_rows",
    "agent_teams",
    "state_spans",
    "state_seconds",
]
