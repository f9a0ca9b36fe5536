"""Report periods in the office time zone: a day, an ISO week, a month or a range of dates.

Pure: "today" comes from the caller's clock. A period is whole office days, from local midnight
to local midnight, turned into UTC instants (a day with a DST change is 23 or 25 hours long).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: longest custom range: a year and a bit (a leap year plus a spare day)
MAX_DAYS = 367

#: breakdowns a report can be split by
BREAKDOWNS: tuple[str, ...] = ("agent", "did", "team", "hour", "day")


class ReportError(ValueError):
    """A report parameter is wrong; `parameter` names it (--from, from, by...) for the message."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


@dataclass(frozen=True, slots=True)
class Period:
    """Office days `first`..`last` (inclusive), as the UTC instants [start, end)."""

    first: date
    last: date
    timezone: str
    start: datetime
    end: datetime

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def to_json(self) -> dict[str, str]:
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "timezone": self.timezone,
            "start": self.start.isoformat().replace("+00:00", "Z"),
            "end": self.end.isoformat().replace("+00:00", "Z"),
        }


def office_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as exc:
        raise ReportError(
            "timezone", f"{name!r} is not an IANA time zone, e.g. Europe/Moscow"
        ) from exc


#: dates a report may ask about (beyond, the office's midnight is not a datetime everywhere)
EARLIEST, LATEST = date(1970, 1, 2), date(2999, 12, 30)


def parse_date(raw: str, parameter: str) -> date:
    try:
        value = date.fromisoformat(raw.strip())
    except ValueError:
        raise ReportError(
            parameter, f"{raw!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-11-25"
        ) from None
    if not EARLIEST <= value <= LATEST:
        raise ReportError(parameter, f"{raw!r} is out of range; use a date from 1970 to 2999")
    return value


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def days_period(first: date, last: date, timezone: str) -> Period:
    zone = office_zone(timezone)
    return Period(
        first=first,
        last=last,
        timezone=timezone,
        start=local_midnight(first, zone),
        end=local_midnight(last + timedelta(days=1), zone),
    )


def resolve_period(
    *,
    today: date,
    timezone: str,
    period: str | None = None,
    on: str | None = None,
    start: str | None = None,
    end: str | None = None,
    names: tuple[str, str] = ("from", "to"),
) -> Period:
    """The period a request means: `start`..`end` dates, or `period` (day, week, month) around
    `on` (default today); with nothing at all, today. `names` are the parameters' names in errors."""
    if start or end:
        if period:
            raise ReportError("period", f"give either period or {names[0]}/{names[1]}, not both")
        first = parse_date(start, names[0]) if start else None
        last = parse_date(end, names[1]) if end else None
        first = first or last
        last = last or first
        assert first is not None and last is not None
        if first > last:
            raise ReportError(names[0], f"{first} is after {names[1]} {last}; swap them")
        if (last - first).days + 1 > MAX_DAYS:
            raise ReportError(names[1], f"at most {MAX_DAYS} days at once; split the range")
        return days_period(first, last, timezone)
    anchor = parse_date(on, "date") if on else today
    kind = period or "day"
    if kind == "day":
        return days_period(anchor, anchor, timezone)
    if kind == "week":
        monday = anchor - timedelta(days=anchor.weekday())
        return days_period(monday, monday + timedelta(days=6), timezone)
    if kind == "month":
        first = anchor.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return days_period(first, following - timedelta(days=1), timezone)
    raise ReportError(
        "period", f"{kind!r} is not a period; use day, week or month (or {names[0]}/{names[1]})"
    )


def check_breakdown(by: str | None, parameter: str = "by") -> str | None:
    if by is None or by == "":
        return None
    if by not in BREAKDOWNS:
        raise ReportError(
            parameter, f"{by!r} is not a breakdown; use one of {', '.join(BREAKDOWNS)}"
        )
    return by


def utc_offsets(period: Period) -> list[tuple[datetime, int]]:
    """The office zone's UTC offset (seconds) over the period, as (from this UTC instant, offset)
    segments: one for Moscow, three for a year in Berlin. SQLite has no time zones, so its
    queries turn UTC into office time with these."""
    zone = office_zone(period.timezone)
    segments: list[tuple[datetime, int]] = []
    step = timedelta(hours=1)
    moment = period.start
    current = _offset(moment, zone)
    segments.append((moment, current))
    while moment < period.end:
        following = moment + step
        offset = _offset(following, zone)
        if offset != current:
            change = _first_minute_with(moment, following, zone, offset)
            segments.append((change, offset))
            current = offset
        moment = following
    return segments


def _offset(moment: datetime, zone: ZoneInfo) -> int:
    delta = moment.astimezone(zone).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def _first_minute_with(low: datetime, high: datetime, zone: ZoneInfo, offset: int) -> datetime:
    moment = low
    while moment < high and _offset(moment, zone) != offset:
        moment += timedelta(minutes=1)
    return moment


__all__ = [
    "BREAKDOWNS",
    "MAX_DAYS",
    "Period",
    "ReportError",
    "check_breakdown",
    "days_period",
    "office_zone",
    "parse_date",
    "resolve_period",
    "utc_offsets",
]
