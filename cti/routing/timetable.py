"""Weekly timetables with dated exceptions, pure: the hours a line is open or an agent works.

A timetable is rows of `days` + `hours`, grouped in levels from the most specific (an agent's
own rows, a DID's) to the most general (the team's, every line's). For one day the rows that
start on it are that day's dated rows at the most specific level that has any, else the weekly
rows of the most specific level that has any. A dated row may close the day ("closed", "off"):
a holiday, a vacation. Hours are office wall-clock time; an end at or before the start runs
past midnight and belongs to the day it starts on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cti.routing.schedules import (
    MINUTES_PER_DAY,
    ScheduleError,
    clock_text,
    parse_days,
    parse_time,
)

#: hours that close the day instead of opening it
CLOSED_WORDS = frozenset({"closed", "off", "-", "holiday", "none"})
#: how far ahead a next opening is looked for (a line closed for longer has none)
HORIZON_DAYS = 400
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
MAX_RANGE_DAYS = 366
MAX_OWNER = 64  #: a login, team or DID as stored
MAX_LABEL = 200


@dataclass(frozen=True, slots=True)
class TimeRow:
    """One row: `owner` (a line or an agent) keeps `hours` on `days`, or is closed that day."""

    owner: str  #: a login, @team, a team, a DID, or * (everyone / every line)
    days: str  #: as written: mon-fri, sat,sun, 2027-01-01, 2027-01-01..2027-01-08
    start: int  #: minutes after midnight
    end: int  #: minutes after midnight, 1..1440
    weekdays: frozenset[int] = frozenset()
    dates: frozenset[date] = frozenset()
    closed: bool = False  #: a dated row that closes its days (holiday, vacation, sick day)
    label: str = ""  #: the holiday's name, "vacation", "swapped shift"
    id: int | None = None

    @property
    def is_exception(self) -> bool:
        return bool(self.dates)

    @property
    def length(self) -> int:
        if self.closed:
            return 0
        return (
            self.end - self.start
            if self.end > self.start
            else self.end + MINUTES_PER_DAY - self.start
        )

    @property
    def hours(self) -> str:
        return "closed" if self.closed else f"{clock_text(self.start)}-{clock_text(self.end)}"

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "owner": self.owner,
            "days": self.days,
            "hours": self.hours,
            "closed": self.closed,
            "label": self.label,
            "exception": self.is_exception,
        }


def parse_row_days(text: str) -> tuple[frozenset[int], frozenset[date]]:
    """The duty rota's days, plus date ranges `2027-01-01..2027-01-08` (a vacation)."""
    parts = [p.strip() for p in text.strip().lower().split(",")]
    dates: set[date] = set()
    rest: list[str] = []
    for part in parts:
        match = _RANGE.match(part)
        if not match:
            rest.append(part)
            continue
        try:
            first, last = date.fromisoformat(match[1]), date.fromisoformat(match[2])
        except ValueError:
            raise ScheduleError(f"{part!r} is not a range of real dates") from None
        if last < first:
            raise ScheduleError(f"{part!r} ends before it starts; write FIRST..LAST")
        if (last - first).days >= MAX_RANGE_DAYS:
            raise ScheduleError(f"{part!r} is longer than a year; split it")
        dates.update(first + timedelta(days=n) for n in range((last - first).days + 1))
    weekdays: frozenset[int] = frozenset()
    if rest:
        weekdays, more = parse_days(",".join(rest))
        dates.update(more)
    if weekdays and dates:
        raise ScheduleError(f"days {text.strip()!r} mixes weekdays and dates; use two rows")
    return weekdays, frozenset(dates)


def make_row(
    owner: str, days: str, hours: str, label: str = "", *, id: int | None = None
) -> TimeRow:
    """A validated row from its written fields: hours `09:00-18:00`, or `closed` / `off`."""
    who = owner.strip()
    if not who:
        raise ScheduleError("the row names nobody; give a login, a team, a DID or *")
    if len(who) > MAX_OWNER:
        raise ScheduleError(f"{who[:20]!r}... is longer than {MAX_OWNER} characters")
    if len(label.strip()) > MAX_LABEL:
        raise ScheduleError(f"the note or name is longer than {MAX_LABEL} characters")
    weekdays, dates = parse_row_days(days)
    spec = hours.strip().lower()
    if spec in CLOSED_WORDS:
        if not dates:
            raise ScheduleError(
                f"{spec!r} rows are exceptions: give them dates (2027-01-01 or "
                "2027-01-01..2027-01-08), not weekdays; leave a closed weekday out instead"
            )
        return TimeRow(who, days.strip().lower(), 0, 0, weekdays, dates, True, label.strip(), id)
    first, dash, last = spec.partition("-")
    if not dash:
        raise ScheduleError(
            f"hours {hours.strip()!r} are not HH:MM-HH:MM (e.g. 09:00-18:00) or closed"
        )
    try:
        start, end = parse_time(first), parse_time(last, end=True)
    except ScheduleError as exc:
        raise ScheduleError(f"hours {hours.strip()!r}: {exc}") from None
    return TimeRow(who, days.strip().lower(), start, end, weekdays, dates, False, label.strip(), id)


Levels = Sequence[Sequence[TimeRow]]


def rows_on(levels: Levels, day: date) -> tuple[Sequence[TimeRow], bool]:
    """(the rows that start on `day`, whether any level has rows at all for weekdays)."""
    for level in levels:
        dated = [r for r in level if day in r.dates]
        if dated:
            return dated, True
    for level in levels:
        weekly = [r for r in level if r.weekdays]
        if weekly:
            return [r for r in weekly if day.weekday() in r.weekdays], True
    return (), False


def intervals(
    levels: Levels, since: datetime, until: datetime, tz: ZoneInfo
) -> Iterator[tuple[datetime, datetime, TimeRow]]:
    """The open intervals overlapping [since, until), in time order (wall-clock hours, so a
    DST change shortens or lengthens the day's interval, as the clock on the wall does)."""
    first = since.astimezone(tz).date() - timedelta(days=1)
    last = until.astimezone(tz).date()
    found: list[tuple[datetime, datetime, TimeRow]] = []
    day = first
    while day <= last:
        rows, _ = rows_on(levels, day)
        for row in rows:
            if row.closed:
                continue
            start = _wall(day, row.start, tz)
            end = _wall(day, row.start + row.length, tz)
            if end > since and start < until:
                found.append((start, end, row))
        day += timedelta(days=1)
    found.sort(key=lambda x: (x[0], x[1]))
    yield from found


def _wall(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    """Wall-clock `minutes` after the day's midnight (24:00 is the next midnight), in UTC: aware
    datetimes sharing a tzinfo compare and subtract by the wall clock, UTC ones by real time."""
    days, rest = divmod(minutes, MINUTES_PER_DAY)
    naive = datetime.combine(day + timedelta(days=days), time(rest // 60, rest % 60))
    return naive.replace(tzinfo=tz).astimezone(UTC)


def covering(levels: Levels, at: datetime, tz: ZoneInfo) -> TimeRow | None:
    """The row whose hours run at `at`, or None."""
    for start, end, row in intervals(levels, at, at + timedelta(seconds=1), tz):
        if start <= at < end:
            return row
    return None


def has_hours(levels: Levels) -> bool:
    """Whether any weekly row exists: without one, only dated rows close anything."""
    return any(r.weekdays for level in levels for r in level)


def closing_row(levels: Levels, at: datetime, tz: ZoneInfo) -> TimeRow | None:
    """The dated `closed` row in force for the day of `at` (a holiday, a vacation), or None."""
    rows, _ = rows_on(levels, at.astimezone(tz).date())
    return next((r for r in rows if r.closed), None)


def next_start(levels: Levels, at: datetime, tz: ZoneInfo) -> datetime | None:
    """`at` if it is inside hours, else the next start of hours within HORIZON_DAYS."""
    step = timedelta(days=14)
    since = at
    horizon = at + timedelta(days=HORIZON_DAYS)
    while since < horizon:
        for start, end, _ in intervals(levels, since, since + step, tz):
            if end > at:
                return max(start, at)
        since += step
    return None


def next_end(levels: Levels, at: datetime, tz: ZoneInfo) -> datetime | None:
    """When the hours running at `at` end (joined with hours that continue them), or None."""
    end: datetime | None = None
    for start, stop, _ in intervals(levels, at, at + timedelta(days=3), tz):
        if start <= (end or at) < stop:
            end = stop
    return end
