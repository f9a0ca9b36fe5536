"""Lines' business hours and holidays, pure: is the line open now, why not, when it opens next.

A line is a DID, a team (the team a DID rule selects) or `*` (every line). Weekly rows give the
opening hours; dated rows are holidays (`closed`) or shortened / working days (hours), e.g. from
the Russian production calendar. A DID's rows win over its team's, the team's over `*`'s; a line
without any weekly row is open around the clock except on its holidays.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from cti.routing.rules import did_digits
from cti.routing.schedules import DAY_NAMES, RowError, ScheduleError, clock_text
from cti.routing.timetable import (
    Levels,
    TimeRow,
    closing_row,
    covering,
    has_hours,
    make_row,
    next_end,
    next_start,
)

EVERY_LINE = "*"
_HEADER = ["line", "days", "hours", "name"]


@dataclass(frozen=True, slots=True)
class LineStatus:
    """Whether a line takes calls at a moment; `reason` is English for people."""

    open: bool
    reason: str  #: "open until 18:00", "closed: New Year holiday", "closed: opens Mon 09:00"
    holiday: str = ""  #: the name of the holiday that closes it
    next_open: datetime | None = None  #: when closed: the next opening (None: not within a year)

    def to_json(self) -> dict[str, object]:
        return {
            "open": self.open,
            "reason": self.reason,
            "holiday": self.holiday or None,
            "next_open": self.next_open.isoformat() if self.next_open else None,
        }


@dataclass(frozen=True)
class BusinessCalendar:
    """Every line's rows, in the office time zone."""

    rows: tuple[TimeRow, ...] = ()
    timezone: str = "Europe/Moscow"
    region: str = "RU"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def levels(self, did: str, team: str) -> Levels:
        """The rows that apply to a call to `did` routed to `team`, most specific first."""
        digits = did_digits(did, self.region) if did else ""
        by_did = [r for r in self.rows if digits and line_digits(r.owner, self.region) == digits]
        by_team = [r for r in self.rows if team and r.owner == team]
        every = [r for r in self.rows if r.owner == EVERY_LINE]
        return [level for level in (by_did, by_team, every) if level]

    def status(self, did: str, team: str, at: datetime) -> LineStatus:
        return line_status(self.levels(did, team), at, self.tz)

    def next_opening(self, did: str, team: str, at: datetime) -> datetime | None:
        """`at` if the line is open then, else its next opening (None: not within a year)."""
        levels = self.levels(did, team)
        if not levels:
            return at
        return _next_opening(levels, at, self.tz)


def line_digits(owner: str, region: str) -> str:
    """The DID a line names, as rules compare it; "" for a team or *."""
    if owner == EVERY_LINE or not any(ch.isdigit() for ch in owner):
        return ""
    if any(ch.isalpha() for ch in owner):
        return ""  # a team name with a digit in it, not a number
    return did_digits(owner, region)


def _next_opening(levels: Levels, at: datetime, tz: ZoneInfo) -> datetime | None:
    if not has_hours(levels):
        # only holidays: open from the end of the closed days
        moment = at
        for _ in range(400):
            if closing_row(levels, moment, tz) is None:
                return moment.astimezone(tz)
            day = moment.astimezone(tz).date() + timedelta(days=1)
            moment = datetime(day.year, day.month, day.day, tzinfo=tz)
        return None
    opens = next_start(levels, at, tz)
    return opens.astimezone(tz) if opens is not None else None


def line_status(levels: Levels, at: datetime, tz: ZoneInfo) -> LineStatus:
    """Open or closed at `at`, with the reason a supervisor reads."""
    if not levels:
        return LineStatus(True, "open: no business hours set")
    holiday = closing_row(levels, at, tz)
    if not has_hours(levels):
        if holiday is None:
            return LineStatus(True, "open: no business hours set")
    elif covering(levels, at, tz) is not None:  # a night's hours run on into a holiday
        end = next_end(levels, at, tz)
        until = f" until {_when(end, at, tz)}" if end is not None else ""
        return LineStatus(True, f"open{until}")
    opening = _next_opening(levels, at, tz)
    opens = f"opens {_when(opening, at, tz)}" if opening else "not open within a year"
    if holiday is not None:
        name = holiday.label or "holiday"
        return LineStatus(False, f"closed: {name} ({opens})", name, opening)
    return LineStatus(False, f"closed: outside business hours ({opens})", "", opening)


def _when(moment: datetime, now: datetime, tz: ZoneInfo) -> str:
    local, today = moment.astimezone(tz), now.astimezone(tz).date()
    hhmm = clock_text(local.hour * 60 + local.minute)
    if local.date() == today:
        return hhmm
    if local.date() - today < timedelta(days=7):
        return f"{DAY_NAMES[local.weekday()].capitalize()} {hhmm}"
    return f"{local.date().isoformat()} {hhmm}"


# --- files ----------------------------------------------------------------------------------


def read_calendar_csv(text: str) -> tuple[list[tuple[int, TimeRow]], list[RowError]]:
    """`line,days,hours,name` rows (header optional, # comments): hours 09:00-18:00 or closed."""
    rows: list[tuple[int, TimeRow]] = []
    errors: list[RowError] = []
    for number, raw in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in raw]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if [c.lower() for c in cells[:4]] == _HEADER[: len(cells[:4])] and number == 1:
            continue
        if len(cells) == 3:
            cells.append("")
        if len(cells) != 4:
            errors.append(
                RowError(number, f"expected line,days,hours[,name]; got {len(cells)} fields")
            )
            continue
        try:
            rows.append((number, make_row(*cells)))
        except ScheduleError as exc:
            errors.append(RowError(number, str(exc)))
    return rows, errors


def write_calendar_csv(rows: Iterable[TimeRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_HEADER)
    for r in rows:
        writer.writerow([r.owner, r.days, r.hours, r.label])
    return out.getvalue()


def read_ical(data: bytes | str, *, line: str = EVERY_LINE) -> tuple[list[TimeRow], list[str]]:
    """Holidays from an iCalendar file (all-day VEVENTs: DTSTART;VALUE=DATE, DTEND exclusive):
    one closed row per event for `line`, named by its SUMMARY. Returns (rows, problems)."""
    from icalendar import Calendar

    try:
        calendar = Calendar.from_ical(data)
    except ValueError as exc:
        return [], [f"not an iCalendar file: {exc}"]
    rows: list[TimeRow] = []
    problems: list[str] = []
    for event in calendar.walk("VEVENT"):
        summary = str(event.get("SUMMARY", "")).strip() or "holiday"
        start = event.get("DTSTART")
        if start is None:
            problems.append(f"event {summary!r} has no DTSTART")
            continue
        first = start.dt
        if isinstance(first, datetime) or not isinstance(first, date):
            problems.append(f"event {summary!r} is not an all-day event (DTSTART;VALUE=DATE)")
            continue
        end = event.get("DTEND")
        last = first
        if end is not None and isinstance(end.dt, date) and not isinstance(end.dt, datetime):
            last = max(first, end.dt - timedelta(days=1))  # DTEND of a date is exclusive
        days = first.isoformat() if last == first else f"{first.isoformat()}..{last.isoformat()}"
        try:
            rows.append(make_row(line, days, "closed", summary))
        except ScheduleError as exc:
            problems.append(f"event {summary!r}: {exc}")
    return rows, problems


def rows_by_line(rows: Sequence[TimeRow]) -> dict[str, list[TimeRow]]:
    out: dict[str, list[TimeRow]] = {}
    for r in rows:
        out.setdefault(r.owner, []).append(r)
    return out
