"""A year of a mid-size contact centre, for the reports benchmark and demos: calls, missed calls,
callbacks and agents' states with a realistic mix, deterministic for a seed, written in chunks.

The mix: 30 agents on four DIDs (shop site, support, marketplace, landing page); weekdays busier
than weekends; a morning rise, the lunch-time spike (12:00-14:00: more calls, fewer people, so
more missed), quiet nights that end in out-of-hours misses; about 8% missed overall, a third of
the abandons short; callbacks made within minutes, a few left open. Rows go through
`cti.db.fastcopy` (COPY on PostgreSQL, executemany on SQLite).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.db.fastcopy import RawJSON, insert_rows
from cti.db.missed_models import CallbackRow, MissedCallRow
from cti.db.models import Agent, CallRow
from cti.db.routing_models import AgentStateRow
from cti.routing.calendar import BusinessCalendar
from cti.routing.timetable import intervals

AGENTS = [f"{100 + n}" for n in range(1, 31)]
#: DID, share of calls, its routing team
DIDS = (
    ("74952220101", 0.50, "sales"),
    ("74952220202", 0.30, "support"),
    ("78005550000", 0.15, "marketplace"),
    ("74952220303", 0.05, "landing"),
)
#: relative call volume per office hour (0-23): the lunch spike at 12-13
HOURLY = (
    0.2,
    0.1,
    0.1,
    0.1,
    0.1,
    0.2,
    0.4,
    0.8,
    2.0,
    5.0,
    7.0,
    7.5,
    9.5,
    9.0,
    7.0,
    6.5,
    6.0,
    5.5,
    4.0,
    2.0,
    1.0,
    0.6,
    0.4,
    0.3,
)
#: relative volume Monday..Sunday
WEEKDAYS = (1.1, 1.0, 1.0, 1.0, 0.95, 0.35, 0.2)

CALL_COLUMNS = (
    "linkedid",
    "direction",
    "caller",
    "caller_e164",
    "caller_name",
    "did",
    "did_e164",
    "agents_rung",
    "answered_by",
    "outcome",
    "missed_kind",
    "short_abandon",
    "started_at",
    "answered_at",
    "ended_at",
    "wait_seconds",
    "talk_seconds",
    "hold_seconds",
    "queue",
    "transferred",
    "recording",
    "resynced",
    "customer_id",
    "route_kind",
    "route_reason",
    "fallback",
)
MISSED_COLUMNS = (
    "id",
    "linkedid",
    "missed_at",
    "kind",
    "short_abandon",
    "caller",
    "caller_e164",
    "caller_name",
    "did",
    "agents_rung",
    "wait_seconds",
    "callback_id",
)
CALLBACK_COLUMNS = (
    "id",
    "number",
    "state",
    "source",
    "owner_login",
    "owner_reason",
    "did",
    "misses",
    "note",
    "created_at",
    "first_missed_at",
    "last_missed_at",
    "deadline_at",
    "timezone",
    "attempts",
    "resolved_at",
    "resolved_by",
    "resolution",
)


@dataclass
class Chunk:
    calls: list[tuple[object, ...]]
    missed: list[tuple[object, ...]]
    callbacks: list[tuple[object, ...]]


def _call_times(
    count: int, first: date, days: int, zone: ZoneInfo, rng: random.Random
) -> Iterator[datetime]:
    """`count` start times over `days` days, following WEEKDAYS x HOURLY, in time order."""
    day_weights = [WEEKDAYS[(first + timedelta(days=d)).weekday()] for d in range(days)]
    total = sum(day_weights)
    hour_total = sum(HOURLY)
    made = 0
    for d in range(len(day_weights)):
        on_day = round(count * sum(day_weights[: d + 1]) / total) - made
        made += on_day
        day = first + timedelta(days=d)
        per_hour = [round(on_day * h / hour_total) for h in HOURLY]
        per_hour[12] += on_day - sum(per_hour)  # rounding leftovers go to the busiest hour
        for hour, n in enumerate(per_hour):
            base = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
            for second in sorted(rng.random() * 3600 for _ in range(max(0, n))):
                yield (base + timedelta(seconds=second)).astimezone(UTC)


class _Hours:
    """Whether a line is closed at a moment, from the calendar's open intervals a day at a time
    (what routing decides, at a fraction of the cost for a year of calls)."""

    def __init__(self, calendar: BusinessCalendar) -> None:
        self.calendar = calendar
        self.teams = {did: team for did, _, team in DIDS}
        self._days: dict[tuple[str, date], list[tuple[datetime, datetime]] | None] = {}

    def closed(self, did: str, start: datetime) -> bool:
        tz = self.calendar.tz
        day = start.astimezone(tz).date()
        key = (did, day)
        if key not in self._days:
            levels = self.calendar.levels(did, self.teams.get(did, ""))
            if any(r.weekdays for level in levels for r in level):
                since = datetime(day.year, day.month, day.day, tzinfo=tz)
                self._days[key] = [
                    (a, b) for a, b, _ in intervals(levels, since, since + timedelta(days=1), tz)
                ]
            else:
                self._days[key] = None  # no hours: only holidays close it
        spans = self._days[key]
        if spans is None:
            return not self.calendar.status(did, self.teams.get(did, ""), start).open
        return not any(a <= start < b for a, b in spans)

    def at(self, start: datetime) -> Callable[[str], bool]:
        return lambda did: self.closed(did, start)


def generate(
    count: int,
    *,
    first: date,
    days: int = 365,
    timezone: str = "Europe/Moscow",
    seed: int = 1,
    chunk_size: int = 50_000,
    calendar: BusinessCalendar | None = None,
) -> Iterator[Chunk]:
    """Calls (with their missed calls and callbacks) in time order, `chunk_size` calls a chunk.

    Lines are closed by `calendar` (business hours, holidays) when given, else at night
    (before 08:00, from 20:00) and on Sundays."""
    zone = ZoneInfo(timezone)
    rng = random.Random(seed)
    chunk = Chunk([], [], [])
    missed_id = 0
    hours = _Hours(calendar) if calendar is not None else None
    for n, start in enumerate(_call_times(count, first, days, zone, rng)):
        local_hour = start.astimezone(zone).hour
        weekday = start.astimezone(zone).weekday()
        is_closed = hours.at(start) if hours is not None else None
        row, miss = _call(n, start, local_hour, weekday, rng, is_closed)
        chunk.calls.append(row)
        if miss is not None:
            missed_id += 1
            _missed(chunk, missed_id, row, miss, zone, rng)
        if len(chunk.calls) >= chunk_size:
            yield chunk
            chunk = Chunk([], [], [])
    if chunk.calls:
        yield chunk


def _did(rng: random.Random) -> str:
    x = rng.random()
    for did, share, _ in DIDS:
        if x < share:
            return did
        x -= share
    return DIDS[0][0]


def _call(
    n: int,
    start: datetime,
    hour: int,
    weekday: int,
    rng: random.Random,
    is_closed: Callable[[str], bool] | None = None,
) -> tuple[tuple[object, ...], str | None]:
    linkedid = f"gen.{n}"
    caller = f"+7916{n % 10_000_000:07d}"
    kind_of_call = rng.random()
    if kind_of_call < 0.05:  # an agent calls out
        agent = rng.choice(AGENTS)
        wait, talk = rng.uniform(5, 25), rng.lognormvariate(4.5, 0.8)
        answered = rng.random() < 0.7
        return _row(
            linkedid,
            "outbound",
            agent,
            None,
            "",
            caller,
            (agent,),
            (agent,) if answered else (),
            "answered" if answered else "unanswered",
            None,
            False,
            start,
            wait,
            talk if answered else 0.0,
            None,
            None,
        ), None
    did = _did(rng)
    closed = is_closed(did) if is_closed is not None else hour < 8 or hour >= 20 or weekday == 6
    lunch = 12 <= hour < 14
    rung = tuple(rng.sample(AGENTS, rng.choice((1, 1, 2, 3))))
    route = rng.random()
    route_kind, fallback = (
        ("manager", False)
        if route < 0.4
        else ("distribution", False)
        if route < 0.85
        else ("duty", True)
        if route < 0.95
        else ("vip_senior", False)
    )
    if lunch and route_kind == "manager" and rng.random() < 0.5:
        route_kind, fallback = "duty", True  # the manager is at lunch
    x = rng.random()
    if closed and x < 0.8:
        return _row(
            linkedid,
            "inbound",
            caller,
            caller,
            did,
            did,
            (),
            (),
            "missed",
            "out_of_hours",
            False,
            start,
            rng.uniform(0, 15),
            0.0,
            None,
            None,
        ), "out_of_hours"
    miss_chance = 0.2 if lunch else 0.035
    if x < miss_chance:
        y = rng.random()
        if y < 0.55:
            wait = rng.uniform(0.5, 5.0) if rng.random() < 0.35 else rng.uniform(5.1, 90.0)
            return _row(
                linkedid,
                "inbound",
                caller,
                caller,
                did,
                did,
                rung,
                (),
                "missed",
                "abandoned",
                wait <= 5.0,
                start,
                wait,
                0.0,
                route_kind,
                fallback,
            ), "abandoned"
        if y < 0.85:
            return _row(
                linkedid,
                "inbound",
                caller,
                caller,
                did,
                did,
                rung,
                (),
                "missed",
                "no_answer",
                False,
                start,
                rng.uniform(20, 60),
                0.0,
                route_kind,
                fallback,
            ), "no_answer"
        return _row(
            linkedid,
            "inbound",
            caller,
            caller,
            did,
            did,
            rung,
            (),
            "missed",
            "busy",
            False,
            start,
            rng.uniform(1, 10),
            0.0,
            route_kind,
            fallback,
        ), "busy"
    wait = min(rng.expovariate(1 / (24.0 if lunch else 11.0)), 300.0)
    talk = rng.lognormvariate(5.0, 0.7)
    return _row(
        linkedid,
        "inbound",
        caller,
        caller,
        did,
        did,
        rung,
        (rung[-1],),
        "answered",
        None,
        False,
        start,
        wait,
        talk,
        route_kind,
        fallback,
    ), None


def _row(
    linkedid: str,
    direction: str,
    caller: str,
    caller_e164: str | None,
    did: str,
    did_e164: str | None,
    rung: tuple[str, ...],
    answered_by: tuple[str, ...],
    outcome: str,
    kind: str | None,
    short: bool,
    start: datetime,
    wait: float,
    talk: float,
    route_kind: str | None,
    fallback: bool | None,
) -> tuple[object, ...]:
    answered_at = start + timedelta(seconds=wait) if answered_by else None
    ended = start + timedelta(seconds=wait + talk)
    return (
        linkedid,
        direction,
        caller,
        caller_e164,
        "",
        did,
        did_e164,
        RawJSON(json.dumps(list(rung))),
        RawJSON(json.dumps(list(answered_by))),
        outcome,
        kind,
        short,
        start,
        answered_at,
        ended,
        round(wait, 3),
        round(talk, 3),
        0.0,
        None,
        False,
        None,
        False,
        None,
        route_kind,
        f"generated {route_kind}" if route_kind else None,
        fallback,
    )


def _missed(
    chunk: Chunk,
    ident: int,
    call: tuple[object, ...],
    kind: str,
    zone: ZoneInfo,
    rng: random.Random,
) -> None:
    linkedid, caller, did, rung, short, ended = (
        call[0],
        call[2],
        call[5],
        call[7],
        call[11],
        call[14],
    )
    assert isinstance(ended, datetime)
    owner = rng.choice(AGENTS)
    deadline = ended + timedelta(minutes=5)
    local = ended.astimezone(zone)
    if local.hour >= 21 or local.hour < 9:  # moved into the 09:00-21:00 window
        morning = (local if local.hour < 9 else local + timedelta(days=1)).replace(
            hour=9, minute=0, second=0
        )
        deadline = morning.astimezone(UTC)
    open_now = rng.random() < 0.03
    resolved_at = (
        None
        if open_now
        else max(deadline - timedelta(minutes=5), ended)
        + timedelta(seconds=min(rng.lognormvariate(5.3, 0.9), 86_400.0))
    )
    chunk.callbacks.append(
        (
            ident,
            caller,
            "open" if open_now else "resolved",  # every generated caller is a new number
            "missed_call",
            owner,
            "duty",
            did,
            1,
            "",
            ended,
            ended,
            ended,
            deadline,
            str(zone.key),
            0,
            resolved_at,
            None if open_now else owner,
            None if open_now else "outbound_answered",
        )
    )
    wait = call[15]
    assert isinstance(wait, float)
    chunk.missed.append(
        (ident, linkedid, ended, kind, short, caller, caller, "", did, rung, wait, ident)
    )


async def write(
    sessions: async_sessionmaker[AsyncSession],
    count: int,
    *,
    first: date,
    days: int = 365,
    timezone: str = "Europe/Moscow",
    seed: int = 1,
    chunk_size: int = 50_000,
    progress: Callable[[int], None] = lambda done: None,
    calendar: BusinessCalendar | None = None,
) -> int:
    """Generate and insert `count` calls (plus missed calls, callbacks, agents and their states)."""
    await write_agents(sessions, first, days, ZoneInfo(timezone))
    done = 0
    for chunk in generate(
        count,
        first=first,
        days=days,
        timezone=timezone,
        seed=seed,
        chunk_size=chunk_size,
        calendar=calendar,
    ):
        await write_chunk(sessions, chunk)
        done += len(chunk.calls)
        progress(done)
    return done


async def write_chunk(sessions: async_sessionmaker[AsyncSession], chunk: Chunk) -> None:
    async with sessions() as session, session.begin():
        await insert_rows(session, _table(CallRow), CALL_COLUMNS, chunk.calls)
        await insert_rows(session, _table(CallbackRow), CALLBACK_COLUMNS, chunk.callbacks)
        await insert_rows(session, _table(MissedCallRow), MISSED_COLUMNS, chunk.missed)


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


async def write_agents(
    sessions: async_sessionmaker[AsyncSession], first: date, days: int, zone: ZoneInfo
) -> None:
    """The 30 agents, and their workdays: available 9-18 with an hour's lunch (staggered 12-14)."""
    async with sessions() as session, session.begin():
        session.add_all(
            [
                Agent(
                    login=f"agent{ext}",
                    name=f"Agent {ext}",
                    extension=ext,
                    device=f"PJSIP/{ext}",
                    teams=[DIDS[i % 4][2]],
                )
                for i, ext in enumerate(AGENTS)
            ]
        )
        rows: list[tuple[object, ...]] = []
        for d in range(days):
            day = first + timedelta(days=d)
            if day.weekday() >= 5:
                continue

            def at(hour: int, day: date = day) -> datetime:
                return datetime(day.year, day.month, day.day, hour, tzinfo=zone).astimezone(UTC)

            for i, ext in enumerate(AGENTS):
                lunch = 12 + (i % 2)
                login = f"agent{ext}"
                rows += [
                    (login, "available", "", at(9), at(lunch)),
                    (login, "paused", "lunch", at(lunch), at(lunch + 1)),
                    (login, "available", "", at(lunch + 1), at(18)),
                    (
                        login,
                        "offline",
                        "",
                        at(18),
                        datetime(day.year, day.month, day.day, 9, tzinfo=zone).astimezone(UTC)
                        + timedelta(days=1),
                    ),
                ]
        await insert_rows(
            session,
            _table(AgentStateRow),
            ("login", "state", "reason", "started_at", "ended_at"),
            rows,
        )


__all__ = [
    "AGENTS",
    "CALL_COLUMNS",
    "DIDS",
    "Chunk",
    "generate",
    "write",
    "write_agents",
    "write_chunk",
]
