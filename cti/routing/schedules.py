"""Duty schedules: a weekly rota in the office time zone, date exceptions, who is on duty now."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY = {name: i for i, name in enumerate(DAY_NAMES)}
_ALL_WEEK = frozenset(range(7))
_TIME = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")
#: an exception row whose login is one of these closes the duty for its hours (a holiday)
NOBODY = frozenset({"", "-", "nobody"})
MINUTES_PER_DAY = 24 * 60


class ScheduleError(ValueError):
    """A duty row that cannot be read; the message says what is wrong and how to write it."""


@dataclass(frozen=True, slots=True)
class DutyShift:
    """One row of the rota: `login` is on duty from `start` to `end` on `days`.

    `days` is either weekdays (the weekly rota) or dates (exceptions). Times are minutes after
    midnight, office time; an `end` at or before `start` runs past midnight into the next day
    (a night shift), and belongs to the day it starts on.
    """

    login: str  #: empty: nobody (an exception that closes the duty)
    days: str  #: as written: mon-fri, sat, sat,sun, 2026-12-31
    start: int  #: minutes after midnight, 0..1439
    end: int  #: minutes after midnight, 1..1440 (24:00)
    weekdays: frozenset[int] = frozenset()  #: 0 = Monday
    dates: frozenset[date] = frozenset()
    id: int | None = None

    @property
    def is_exception(self) -> bool:
        return bool(self.dates)

    @property
    def length(self) -> int:
        return (
            self.end - self.start
            if self.end > self.start
            else self.end + MINUTES_PER_DAY - self.start
        )

    @property
    def hours(self) -> str:
        return f"{clock_text(self.start)}-{clock_text(self.end)}"

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "login": self.login or None,
            "days": self.days,
            "start": clock_text(self.start),
            "end": clock_text(self.end),
            "exception": self.is_exception,
        }


def clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_time(text: str, *, end: bool = False) -> int:
    """`9:00`, `12:00`, `24:00` (an end only) to minutes after midnight."""
    match = _TIME.match(text.strip())
    if not match:
        raise ScheduleError(f"time {text.strip()!r} is not HH:MM (e.g. 09:00, 24:00)")
    minutes = int(match[1]) * 60 + int(match[2])
    if minutes > MINUTES_PER_DAY or (minutes == MINUTES_PER_DAY and not end):
        raise ScheduleError(f"time {text.strip()!r} is past midnight; 24:00 may only end a shift")
    return minutes


def parse_days(text: str) -> tuple[frozenset[int], frozenset[date]]:
    """`mon-fri`, `sat`, `sat,sun`, `fri-mon`, `daily`; or dates `2026-12-31[,2027-01-01]`."""
    spec = text.strip().lower()
    if not spec:
        raise ScheduleError("days are empty; write e.g. mon-fri, sat, daily or 2026-12-31")
    if spec in ("daily", "*", "mon-sun", "all"):
        return _ALL_WEEK, frozenset()
    weekdays: set[int] = set()
    dates: set[date] = set()
    for part in (p.strip() for p in spec.split(",")):
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", part):
            try:
                dates.add(date.fromisoformat(part))
            except ValueError:
                raise ScheduleError(f"{part!r} is not a real date") from None
            continue
        first, dash, last = part.partition("-")
        if first not in _WEEKDAY or (dash and last not in _WEEKDAY):
            raise ScheduleError(
                f"days {text.strip()!r}: {part!r} is not a weekday (mon..sun), a range like "
                "mon-fri, or a date like 2026-12-31"
            )
        a, b = _WEEKDAY[first], _WEEKDAY[last] if dash else _WEEKDAY[first]
        day = a
        while True:  # ranges may wrap: fri-mon is fri, sat, sun, mon
            weekdays.add(day)
            if day == b:
                break
            day = (day + 1) % 7
    if weekdays and dates:
        raise ScheduleError(f"days {text.strip()!r} mixes weekdays and dates; use two rows")
    return frozenset(weekdays), frozenset(dates)


def make_shift(login: str, days: str, start: str, end: str, *, id: int | None = None) -> DutyShift:
    """A validated shift from its four written fields."""
    weekdays, dates = parse_days(days)
    start_min = parse_time(start)
    end_min = parse_time(end, end=True)
    who = login.strip()
    if who.lower() in NOBODY:
        if not dates:
            raise ScheduleError("'nobody' rows are exceptions: give them a date, not weekdays")
        who = ""
    return DutyShift(who, days.strip().lower(), start_min, end_min, weekdays, dates, id)


def _starting_on(shifts: Sequence[DutyShift], day: date) -> list[DutyShift]:
    """The shifts that start on `day`: its exceptions if it has any, else the weekly rota."""
    exceptions = [s for s in shifts if day in s.dates]
    if exceptions:
        return exceptions
    weekday = day.weekday()
    return [s for s in shifts if weekday in s.weekdays]


def on_duty(shifts: Sequence[DutyShift], at: datetime) -> tuple[DutyShift, ...]:
    """The shifts running at `at` (office local time, aware or naive), in rota order.

    A date with exception rows uses only those rows for the shifts that start on it; a night
    shift that started the evening before still runs until it ends.
    """
    minute = at.hour * 60 + at.minute + at.second / 60
    today = at.date()
    running: list[DutyShift] = []
    for day, offset in ((today, 0), (today - timedelta(days=1), MINUTES_PER_DAY)):
        for shift in _starting_on(shifts, day):
            t = minute + offset
            if shift.start <= t < shift.start + shift.length:
                running.append(shift)
    order = {id(s): i for i, s in enumerate(shifts)}
    running.sort(key=lambda s: order[id(s)])
    return tuple(s for s in running if s.login)


def next_duty(
    shifts: Sequence[DutyShift], at: datetime, *, days: int = 8
) -> tuple[datetime, tuple[DutyShift, ...]] | None:
    """The next time after `at` (office local, aware) that a shift starts, and the shifts that
    start then; None when nobody is on the rota in the next `days` days."""
    midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
    for offset in range(days):
        day = (midnight + timedelta(days=offset)).date()
        starting = sorted((s for s in _starting_on(shifts, day) if s.login), key=lambda s: s.start)
        for shift in starting:
            begins = datetime.combine(day, datetime.min.time(), at.tzinfo) + timedelta(
                minutes=shift.start
            )
            if begins > at:
                return begins, tuple(s for s in starting if s.start == shift.start)
    return None


def duty_logins(shifts: Sequence[DutyShift], at: datetime) -> tuple[str, ...]:
    """Who is on duty at `at`, rota order, each once."""
    seen: dict[str, None] = {}
    for shift in on_duty(shifts, at):
        seen.setdefault(shift.login, None)
    return tuple(seen)


def _separator(text: str) -> str:
    for line in text.lstrip("\ufeff").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return ";" if len(next(csv.reader([line], delimiter=";"))) == 4 else ","
    return ","


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    message: str


def read_rota_csv(text: str) -> tuple[list[tuple[int, DutyShift]], list[RowError]]:
    """`login,days,start,end` rows, each with its line number (a header row is optional;
    # starts a comment), and the errors of the rows that cannot be read. `;` separates the
    fields as well (a Russian spreadsheet's CSV), told from the first row that is not a comment."""
    shifts: list[tuple[int, DutyShift]] = []
    errors: list[RowError] = []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=_separator(text))
    for number, row in enumerate(reader, start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and [c.lower() for c in cells[:4]] == ["login", "days", "start", "end"]:
            continue
        if len(cells) != 4:
            errors.append(
                RowError(number, f"expected 4 fields login,days,start,end; got {len(cells)}")
            )
            continue
        try:
            shifts.append((number, make_shift(*cells)))
        except ScheduleError as exc:
            errors.append(RowError(number, str(exc)))
    return shifts, errors


def write_rota_csv(shifts: Iterable[DutyShift]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["login", "days", "start", "end"])
    for s in shifts:
        writer.writerow([s.login or "nobody", s.days, clock_text(s.start), clock_text(s.end)])
    return out.getvalue()
