"""Agents' shifts, lines' business hours and holidays, and routing that reads them (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from cti.missed.model import CallbackWindow
from cti.routing.calendar import BusinessCalendar, read_calendar_csv, read_ical
from cti.routing.model import AgentProfile, AgentState, Presence, TargetKind
from cti.routing.policy import AfterHours, RoutingOptions, Situation, route_call
from cti.routing.rules import parse_rules
from cti.routing.schedules import ScheduleError, make_shift
from cti.routing.shifts import read_shifts_csv, shift_edges, shift_seconds, shift_status
from cti.routing.timetable import make_row, next_start
from tests.routing_world import AGENTS, UYUT

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
IVANOVA = AGENTS[0]
SALES_DID = "+7 495 111-22-33"

CALENDAR_CSV = """line,days,hours,name
sales,mon-fri,09:00-18:00,
sales,sat,10:00-15:00,
*,2027-01-01..2027-01-08,closed,New Year holiday
*,2026-12-31,09:00-15:00,shortened day
*,2026-11-28,closed,Unity Day (moved)
*,2027-01-09,10:00-14:00,working Saturday
"""


def _calendar(text: str = CALENDAR_CSV, tz: str = "Europe/Moscow") -> BusinessCalendar:
    rows, errors = read_calendar_csv(text)
    assert errors == []
    return BusinessCalendar(tuple(r for _, r in rows), tz)


def at(y: int, m: int, d: int, hh: int, mm: int = 0, tz: ZoneInfo = MSK) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=tz)


# --- lines' business hours ----------------------------------------------------------------------


def test_a_line_is_open_in_its_hours_and_says_until_when() -> None:
    status = _calendar().status(SALES_DID, "sales", at(2026, 11, 24, 12, 30))
    assert status.open and status.reason == "open until 18:00"


def test_at_night_the_line_is_closed_and_opens_next_morning() -> None:
    status = _calendar().status(SALES_DID, "sales", at(2026, 11, 24, 2))
    assert not status.open
    assert status.reason == "closed: outside business hours (opens 09:00)"
    assert status.next_open == at(2026, 11, 24, 9)


def test_friday_evening_opens_on_saturday_with_saturday_hours() -> None:
    status = _calendar().status(SALES_DID, "sales", at(2026, 11, 27, 19))
    # Saturday 2026-11-28 is a holiday here: the next opening is Monday morning
    assert status.next_open == at(2026, 11, 30, 9)
    assert status.reason == "closed: outside business hours (opens Mon 09:00)"


def test_a_holiday_that_falls_on_a_weekend_closes_the_weekend_hours_too() -> None:
    status = _calendar().status(SALES_DID, "sales", at(2026, 11, 28, 11))  # a Saturday
    assert not status.open and status.holiday == "Unity Day (moved)"
    assert status.reason.startswith("closed: Unity Day (moved)")


def test_new_year_holidays_close_every_line_for_days_and_a_working_saturday_opens() -> None:
    cal = _calendar()
    status = cal.status(SALES_DID, "sales", at(2027, 1, 4, 11))  # a Monday, still holidays
    assert not status.open
    assert status.reason == "closed: New Year holiday (opens Sat 10:00)"
    assert status.next_open == at(2027, 1, 9, 10)
    assert cal.status(SALES_DID, "sales", at(2027, 1, 9, 13, 59)).open
    assert not cal.status(SALES_DID, "sales", at(2027, 1, 9, 14)).open


def test_a_shortened_day_closes_early() -> None:
    cal = _calendar()
    assert cal.status(SALES_DID, "sales", at(2026, 12, 31, 14, 59)).open
    late = cal.status(SALES_DID, "sales", at(2026, 12, 31, 15))
    assert not late.open and late.next_open == at(2027, 1, 9, 10)


def test_a_line_without_hours_is_open_except_on_holidays() -> None:
    cal = _calendar()
    assert cal.status("+7 800 555-00-00", "support", at(2026, 11, 24, 3)).open
    closed = cal.status("+7 800 555-00-00", "support", at(2027, 1, 2, 3))
    assert not closed.open and closed.next_open == at(2027, 1, 9, 0)


def test_a_did_s_own_rows_win_over_its_team() -> None:
    cal = _calendar(CALENDAR_CSV + "74951112233,daily,00:00-24:00,\n")
    assert cal.status(SALES_DID, "sales", at(2026, 11, 24, 2)).open
    assert not cal.status("+7 495 999-00-00", "sales", at(2026, 11, 24, 2)).open


def test_night_hours_run_past_midnight_into_the_next_day() -> None:
    cal = _calendar("line,days,hours\nnight,mon-fri,20:00-08:00\n")
    assert cal.status("", "night", at(2026, 11, 25, 3)).open  # Tuesday's hours, on Wednesday
    assert not cal.status("", "night", at(2026, 11, 25, 9)).open


def test_hours_are_office_wall_clock_across_a_dst_change() -> None:
    # Berlin moves its clocks forward on 2027-03-28: opening stays 09:00 on the wall
    cal = _calendar("line,days,hours\n*,daily,09:00-18:00\n", tz="Europe/Berlin")
    opens = cal.next_opening("", "", at(2027, 3, 27, 20, tz=BERLIN))
    assert opens == at(2027, 3, 28, 9, tz=BERLIN)
    assert opens is not None and opens.utcoffset() == timedelta(hours=2)


def test_bad_calendar_rows_name_the_line_and_what_to_write() -> None:
    rows, errors = read_calendar_csv(
        "sales,mon-fri,9-18\nsales,mon,closed\n*,2027-01-09..2027-01-01,closed\nsales,mon\n"
    )
    assert rows == []
    assert [e.line for e in errors] == [1, 2, 3, 4]
    assert "HH:MM" in errors[0].message and "dates" in errors[1].message
    assert "ends before it starts" in errors[2].message


def test_holidays_import_from_icalendar() -> None:
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        "BEGIN:VEVENT\r\nUID:1\r\nDTSTART;VALUE=DATE:20270101\r\nDTEND;VALUE=DATE:20270109\r\n"
        "SUMMARY:Новогодние каникулы\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:2\r\nDTSTART;VALUE=DATE:20270223\r\nSUMMARY:Defender of the\r\n"
        "  Fatherland Day\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:3\r\nDTSTART:20270301T100000Z\r\nSUMMARY:meeting\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )
    rows, problems = read_ical(ics, line="sales")
    assert [(r.owner, r.days, r.label, r.closed) for r in rows] == [
        ("sales", "2027-01-01..2027-01-08", "Новогодние каникулы", True),
        ("sales", "2027-02-23", "Defender of the Fatherland Day", True),
    ]
    assert len(problems) == 1 and "all-day" in problems[0]


# --- agents' shifts -----------------------------------------------------------------------------

SHIFTS_CSV = """who,days,hours,note
@sales,mon-fri,09:00-18:00,
ivanova,2026-11-30..2026-12-11,off,vacation
ivanova,2026-11-21,10:00-16:00,swapped shift
kozlov,daily,20:00-08:00,
"""


def _shifts() -> tuple:
    rows, errors = read_shifts_csv(SHIFTS_CSV)
    assert errors == []
    return tuple(r for _, r in rows)


def test_a_team_pattern_covers_its_agents_and_says_until_when() -> None:
    status = shift_status(_shifts(), IVANOVA, at(2026, 11, 24, 12), MSK)
    assert status is not None and status.on and status.why == "Ivanova is on shift until 18:00"
    off = shift_status(_shifts(), IVANOVA, at(2026, 11, 24, 19), MSK)
    assert off is not None and not off.on and off.why == "Ivanova is off shift"


def test_a_vacation_takes_the_agent_off_and_says_why() -> None:
    status = shift_status(_shifts(), IVANOVA, at(2026, 12, 2, 12), MSK)
    assert status is not None and not status.on
    assert status.why == "Ivanova is off shift (vacation)"


def test_a_swapped_shift_puts_the_agent_on_a_saturday() -> None:
    assert shift_status(_shifts(), IVANOVA, at(2026, 11, 21, 11), MSK).on  # type: ignore[union-attr]
    sidorova = AGENTS[2]  # same team, no swap
    assert not shift_status(_shifts(), sidorova, at(2026, 11, 21, 11), MSK).on  # type: ignore[union-attr]


def test_an_agent_without_any_shift_rows_always_works() -> None:
    smirnova = AGENTS[3]
    assert shift_status(_shifts(), smirnova, at(2026, 11, 24, 3), MSK) is None


def test_shift_hours_over_a_day_follow_the_wall_clock_on_dst_nights() -> None:
    night = (make_row("kozlov", "daily", "22:00-06:00"),)
    kozlov = AGENTS[1]
    # Berlin, 2027-10-31: clocks go back at 03:00, the night shift lasts 9 hours, not 8
    since, until = at(2027, 10, 30, 12, tz=BERLIN), at(2027, 10, 31, 12, tz=BERLIN)
    assert shift_seconds(night, kozlov, since, until, BERLIN) == 9 * 3600
    assert shift_seconds(night, kozlov, since, until, MSK) == 8 * 3600


def test_shift_edges_give_the_starts_and_ends_in_order() -> None:
    edges = shift_edges(_shifts(), AGENTS[:2], at(2026, 11, 24, 0), at(2026, 11, 25, 0), MSK)
    assert [(e[0].astimezone(MSK).hour, e[1], e[2]) for e in edges] == [
        (8, "kozlov", False),
        (9, "ivanova", True),
        (18, "ivanova", False),
        (20, "kozlov", True),
    ]


def test_bad_shift_rows_are_reported_with_their_lines() -> None:
    rows, errors = read_shifts_csv("who,days,hours\nivanova,mon,off\n*,mon,09:00-18:00\nx,y,z\n")
    assert rows == [] and [e.line for e in errors] == [2, 3, 4]


def test_a_vacation_range_longer_than_a_year_is_refused() -> None:
    with pytest.raises(ScheduleError, match="longer than a year"):
        make_row("ivanova", "2026-01-01..2027-06-01", "off")


# --- routing reads them -------------------------------------------------------------------------

ROTA = [
    make_shift("smirnova", "mon-fri", "12:00", "14:00"),  # the lunch-time duty operator
    make_shift("petrov", "daily", "20:00", "09:00"),  # nights
    make_shift("petrov", "2027-01-01,2027-01-02,2027-01-03", "09:00", "21:00"),
]
RULES = parse_rules([f"{SALES_DID}=sales"])
OPTIONS = RoutingOptions(voicemail="100@default")


def _route(when: datetime, *, presence=None, customer=None, options=OPTIONS, calendar=None):
    situation = Situation(
        agents={a.login: a for a in AGENTS},
        presence=presence or {},
        rota=ROTA,
        shifts=_shifts(),
        calendar=calendar or _calendar(),
    )
    return route_call(
        caller="+79990000000",
        did=SALES_DID,
        customer=customer,
        situation=situation,
        rules=RULES,
        options=options,
        now=when,
    )


def test_at_night_an_unknown_caller_goes_straight_to_the_night_duty_operator() -> None:
    decision = _route(at(2026, 11, 24, 2))
    assert decision.closed
    assert [(t.kind, t.agent) for t in decision.targets] == [
        (TargetKind.DUTY, "petrov"),
        (TargetKind.VOICEMAIL, None),
    ]
    assert decision.targets[0].reason == (
        "duty operator Petrov: closed: outside business hours (opens 09:00)"
    )


def test_on_a_holiday_the_reason_names_the_holiday() -> None:
    decision = _route(at(2027, 1, 2, 11))
    assert decision.closed and decision.closed_reason.startswith("closed: New Year holiday")
    assert decision.targets[0].agent == "petrov"
    assert "New Year holiday" in decision.targets[0].reason


def test_a_closed_line_can_go_to_voicemail_or_an_announcement() -> None:
    vm = RoutingOptions(after_hours={"sales": AfterHours.parse("voicemail")})
    decision = _route(at(2026, 11, 24, 2), options=vm)
    assert [t.kind for t in decision.targets] == [TargetKind.VOICEMAIL]
    ann = RoutingOptions(after_hours={"*": AfterHours.parse("announcement:closed-ru")})
    decision = _route(at(2026, 11, 24, 2), options=ann)
    assert decision.targets == () and decision.announcement == "closed-ru"


def test_at_lunch_the_manager_s_away_and_the_lunch_duty_operator_answers() -> None:
    presence = {"ivanova": Presence(AgentState.PAUSED, "lunch", 0.0)}
    decision = _route(at(2026, 11, 24, 12, 30), presence=presence, customer=UYUT)
    assert not decision.closed
    duty = [t for t in decision.targets if t.kind is TargetKind.DUTY]
    assert [t.agent for t in duty] == ["smirnova"]
    assert duty[0].reason == "duty operator Smirnova: account manager Ivanova is away (lunch)"


def test_agents_off_shift_are_not_offered_and_the_reason_says_so() -> None:
    decision = _route(at(2026, 12, 2, 11), customer=UYUT)  # Ivanova is on vacation
    assert "ivanova" not in {t.agent for t in decision.targets}
    skipped = [r for r in decision.reasons if r.code == "off_shift"]
    assert skipped and skipped[0].text == "account manager Ivanova is off shift (vacation)"


def test_distribution_rings_only_agents_on_shift() -> None:
    decision = _route(at(2026, 11, 21, 11))  # Saturday: only Ivanova's swapped shift
    assert [t.agent for t in decision.targets if t.kind is TargetKind.DISTRIBUTION] == ["ivanova"]


def test_a_duty_operator_on_sick_leave_is_skipped_though_the_rota_names_them() -> None:
    sick = _shifts() + (make_row("petrov", "2026-11-24", "off", "sick day"),)
    situation = Situation(
        agents={a.login: a for a in AGENTS}, rota=ROTA, shifts=sick, calendar=_calendar()
    )
    decision = route_call(
        caller="",
        did=SALES_DID,
        customer=None,
        situation=situation,
        rules=RULES,
        options=OPTIONS,
        now=at(2026, 11, 24, 2),
    )
    assert [t.kind for t in decision.targets] == [TargetKind.VOICEMAIL]
    assert any(r.text == "duty operator Petrov is off shift (sick day)" for r in decision.reasons)


# --- callbacks move to the next opening ---------------------------------------------------------


def test_next_start_finds_the_following_opening_within_the_horizon() -> None:
    levels = [[make_row("*", "mon", "09:00-10:00")]]
    got = next_start(levels, at(2026, 11, 24, 12), MSK)
    assert got == at(2026, 11, 30, 9)


def test_callback_deadline_moves_to_the_next_opening_in_the_customer_s_zone() -> None:
    from cti.missed.rules import callback_deadline

    window = CallbackWindow(time(9), time(21))
    cal = _calendar()

    def opening(moment: datetime) -> datetime | None:
        return cal.next_opening(SALES_DID, "sales", moment)

    # missed Friday 17:58 Moscow; +5 min is past closing: Saturday is a holiday, so Monday 09:00
    # in Moscow, which is 01:00 in New York: the customer's window then moves it to 09:00 there
    missed = at(2026, 11, 27, 17, 58).astimezone(UTC)
    due = callback_deadline(
        missed, sla=timedelta(minutes=5), tz=NEW_YORK, window=window, opening=opening
    )
    assert due == datetime(2026, 11, 30, 9, tzinfo=NEW_YORK).astimezone(UTC)


def test_callback_deadline_over_a_foreign_dst_change() -> None:
    from cti.missed.rules import callback_deadline

    window = CallbackWindow(time(9), time(21))
    cal = _calendar("line,days,hours\n*,daily,08:00-20:00\n")

    def opening(moment: datetime) -> datetime | None:
        return cal.next_opening("", "", moment)

    # New York leaves DST on 2026-11-01: 09:00 there is 17:00 Moscow after, 16:00 before
    missed = datetime(2026, 10, 31, 23, 0, tzinfo=NEW_YORK).astimezone(UTC)
    due = callback_deadline(
        missed, sla=timedelta(minutes=5), tz=NEW_YORK, window=window, opening=opening
    )
    assert due == datetime(2026, 11, 1, 9, tzinfo=NEW_YORK).astimezone(UTC)
    assert due.astimezone(MSK).hour == 17
    assert date(2026, 11, 1) == due.astimezone(NEW_YORK).date()


def test_an_ordinary_profile_has_no_shifts() -> None:
    nobody = AgentProfile("x")
    assert shift_status((), nobody, at(2026, 11, 24, 3), MSK) is None


def test_the_after_hours_rule_of_the_did_wins_over_its_team_and_every_line() -> None:
    from cti.routing.policy import after_hours_rule

    table = {
        "+7 495 111-22-33": AfterHours.parse("announcement"),
        "sales": AfterHours.parse("voicemail"),
        "*": AfterHours.parse("duty"),
    }
    assert after_hours_rule(table, "84951112233", "sales", RULES) == AfterHours(
        "announcement", "cti-closed"
    )
    assert after_hours_rule(table, "84959999999", "sales", RULES).action == "voicemail"
    assert after_hours_rule(table, "84959999999", "support", RULES).action == "duty"
    assert after_hours_rule({}, "84959999999", "support", RULES).action == "duty"


def test_a_bad_after_hours_setting_is_refused_with_how_to_write_it() -> None:
    from cti.config import Settings
    from cti.routing.setup import RoutingSetupError, routing_options

    with pytest.raises(RoutingSetupError, match="routing_after_hours entry 'sales=ring'"):
        routing_options(Settings(routing_after_hours=("sales=ring",)))
    with pytest.raises(RoutingSetupError, match="LINE=RULE"):
        routing_options(Settings(routing_after_hours=("voicemail",)))
    options = routing_options(Settings(routing_after_hours=("*=announcement:closed-ru",)))
    assert options.after_hours["*"] == AfterHours("announcement", "closed-ru")
