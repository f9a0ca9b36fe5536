"""Duty rota: weekly rows in office time, nights across midnight, date exceptions, CSV."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from cti.routing.schedules import (
    ScheduleError,
    duty_logins,
    make_shift,
    parse_days,
    read_rota_csv,
    write_rota_csv,
)

MSK = ZoneInfo("Europe/Moscow")

ROTA = [
    make_shift("ivanova", "mon-fri", "12:00", "14:00"),
    make_shift("petrov", "mon-sun", "20:00", "08:00"),
    make_shift("sidorova", "sat,sun", "08:00", "20:00"),
    make_shift("kozlov", "2026-12-31", "10:00", "16:00"),
    make_shift("nobody", "2027-01-01", "00:00", "24:00"),
]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=MSK)


@pytest.mark.parametrize(
    ("when", "who"),
    [
        ("2026-11-24 12:00", ("ivanova",)),  # Tuesday lunch starts
        ("2026-11-24 13:59", ("ivanova",)),
        ("2026-11-24 14:00", ()),  # the end is exclusive
        ("2026-11-24 19:59", ()),
        ("2026-11-24 20:00", ("petrov",)),
        ("2026-11-25 07:59", ("petrov",)),  # Monday's night runs into Tuesday
        ("2026-11-25 08:00", ()),
        ("2026-11-28 12:30", ("sidorova",)),  # Saturday: no lunch duty, the weekend rota
        ("2026-11-30 02:00", ("petrov",)),  # Sunday night into Monday
        ("2026-12-31 12:30", ("kozlov",)),  # an exception replaces Thursday's rota
        ("2026-12-31 06:00", ("petrov",)),  # the night that began on Dec 30 still runs
        ("2026-12-31 21:00", ()),  # ... but Dec 31 has no night of its own
        ("2027-01-01 05:00", ()),  # nor is anyone on duty on the holiday
        ("2027-01-01 21:00", ()),
    ],
)
def test_who_is_on_duty(when: str, who: tuple[str, ...]) -> None:
    assert duty_logins(ROTA, at(when)) == who


def test_office_time_zone_is_what_counts() -> None:
    utc_noon_thirty = datetime(2026, 11, 24, 9, 30, tzinfo=ZoneInfo("UTC"))  # 12:30 in Moscow
    assert duty_logins(ROTA, utc_noon_thirty.astimezone(MSK)) == ("ivanova",)


def test_overlapping_shifts_keep_rota_order() -> None:
    rota = [make_shift("b", "daily", "09:00", "18:00"), make_shift("a", "tue", "12:00", "13:00")]
    assert duty_logins(rota, at("2026-11-24 12:15")) == ("b", "a")


@pytest.mark.parametrize(
    ("days", "weekdays"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("sat", {5}),
        ("Sat, Sun", {5, 6}),
        ("fri-mon", {4, 5, 6, 0}),
        ("daily", set(range(7))),
    ],
)
def test_days(days: str, weekdays: set[int]) -> None:
    assert parse_days(days)[0] == frozenset(weekdays)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("ivanova", "mo-fr", "12:00", "14:00"), "not a weekday"),
        (("ivanova", "mon-fri", "12", "14:00"), "not HH:MM"),
        (("ivanova", "mon-fri", "24:00", "02:00"), "24:00 may only end"),
        (("ivanova", "2026-02-30", "12:00", "14:00"), "not a real date"),
        (("ivanova", "mon,2026-12-31", "12:00", "14:00"), "mixes weekdays and dates"),
        (("nobody", "mon-fri", "12:00", "14:00"), "exceptions"),
    ],
)
def test_bad_rows_say_what_is_wrong(row: tuple[str, str, str, str], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        make_shift(*row)


def test_csv_reads_rows_and_reports_each_bad_line() -> None:
    text = (
        "login,days,start,end\n"
        "ivanova,mon-fri,12:00,14:00\n"
        "# nights\n"
        "petrov,mon-sun,20:00,08:00\n"
        "kozlov,someday,10:00,16:00\n"
        "sidorova,sat\n"
        "\n"
        "kozlov,2026-12-31,10:00,16:00\n"
    )
    rows, errors = read_rota_csv(text)
    assert [line for line, _ in rows] == [2, 4, 8]
    shifts = [shift for _, shift in rows]
    assert [(s.login, s.days, s.hours) for s in shifts] == [
        ("ivanova", "mon-fri", "12:00-14:00"),
        ("petrov", "mon-sun", "20:00-08:00"),
        ("kozlov", "2026-12-31", "10:00-16:00"),
    ]
    assert [(e.line, e.message.split(":")[0]) for e in errors] == [
        (5, "days 'someday'"),
        (6, "expected 4 fields login,days,start,end; got 2"),
    ]
    again, _ = read_rota_csv(write_rota_csv(shifts))
    assert [(s.login, s.days, s.start, s.end) for _, s in again] == [
        (s.login, s.days, s.start, s.end) for s in shifts
    ]


def test_time_in_each_state_how_long_was_she_at_lunch() -> None:
    from cti.routing.model import AgentState, StateInterval
    from cti.routing.views import state_history

    t0 = 1_795_500_000.0
    intervals = [
        StateInterval("ivanova", AgentState.AVAILABLE, "", t0, t0 + 3600),
        StateInterval("ivanova", AgentState.PAUSED, "lunch", t0 + 3600, t0 + 3600 + 2400),
        StateInterval("ivanova", AgentState.AVAILABLE, "", t0 + 6000, t0 + 7200),
        StateInterval("ivanova", AgentState.PAUSED, "lunch", t0 + 7200, None),  # still at lunch
    ]
    view = state_history("ivanova", intervals, since=t0, until=t0 + 86400, now=t0 + 7500)
    assert view["totals"] == [
        {"state": "available", "reason": "", "seconds": 4800.0},
        {"state": "paused", "reason": "lunch", "seconds": 2700.0},
    ]
    assert view["intervals"][-1]["ended_at"] is None and view["intervals"][-1]["seconds"] == 300.0


def test_a_rota_saved_by_a_russian_spreadsheet_reads_the_same() -> None:
    text = "\ufefflogin;days;start;end\r\nivanova;mon-fri;12:00;14:00\r\nkozlov;sat,sun;10:00;16:00\r\n"
    rows, errors = read_rota_csv(text)
    assert errors == []
    assert [(s.login, s.days, s.hours) for _, s in rows] == [
        ("ivanova", "mon-fri", "12:00-14:00"),
        ("kozlov", "sat,sun", "10:00-16:00"),
    ]
