"""A generated month with night and holiday traffic: the business-hours KPIs and the out-of-hours
figures apart, from SQLite and PostgreSQL, against the calls counted by hand."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cti.db.migrate import upgrade
from cti.db.session import create_engine, session_factory
from cti.reports.generator import CALL_COLUMNS, DIDS, generate, write
from cti.reports.kpi import figures, tally_calls
from cti.reports.service import ReportQuery, Reports, Viewer
from cti.routing.calendar import BusinessCalendar, read_calendar_csv
from cti.routing.rules import parse_rules

MSK = ZoneInfo("Europe/Moscow")
BOSS = Viewer(login="boss", everything=True)
FIRST = date(2027, 1, 1)
COUNT = 3_000
SEED = 7
CALENDAR_CSV = """line,days,hours,name
*,mon-fri,09:00-19:00,
support,daily,08:00-22:00,
*,2027-01-01..2027-01-08,closed,New Year holiday
"""


def _calendar() -> BusinessCalendar:
    rows, errors = read_calendar_csv(CALENDAR_CSV)
    assert errors == []
    return BusinessCalendar(tuple(r for _, r in rows), "Europe/Moscow")


def _month() -> list[dict[str, Any]]:
    chunks = generate(COUNT, first=FIRST, days=31, seed=SEED, calendar=_calendar())
    return [dict(zip(CALL_COLUMNS, row, strict=True)) for c in chunks for row in c.calls]


def _by_hand(calls: list[dict[str, Any]], day: date) -> dict[str, Any]:
    """One day counted call by call, the way a supervisor checks a report."""
    offered = out_of_hours = short = within = missed = 0
    for c in calls:
        if c["direction"] != "inbound" or c["started_at"].astimezone(MSK).date() != day:
            continue
        offered += 1
        if c["outcome"] == "missed":
            if c["missed_kind"] == "out_of_hours":
                out_of_hours += 1
                continue
            missed += 1
            short += bool(c["short_abandon"])
        elif c["outcome"] == "answered" and c["wait_seconds"] <= 20.0:
            within += 1
    counted = offered - out_of_hours - short
    return {
        "offered": offered,
        "offered_in_hours": offered - out_of_hours,
        "missed_out_of_hours": out_of_hours,
        "missed_in_hours": missed,
        "service_level": within / counted if counted else None,
        "missed_rate": (missed - short) / counted if counted else None,
    }


def test_the_month_is_closed_at_night_and_on_the_holidays_by_the_calendar() -> None:
    calendar = _calendar()
    inbound = [c for c in _month() if c["direction"] == "inbound"]
    ooh = [c for c in inbound if c["missed_kind"] == "out_of_hours"]
    teams = {did: team for did, _, team in DIDS}
    assert ooh and all(
        not calendar.status(c["did"], teams[c["did"]], c["started_at"]).open for c in ooh
    )
    holiday = [c for c in inbound if c["started_at"].astimezone(MSK).date() <= date(2027, 1, 8)]
    assert holiday and all(c["outcome"] == "answered" or c in ooh for c in holiday)
    weekday_noon = [
        c
        for c in inbound
        if c["started_at"].astimezone(MSK).date() == date(2027, 1, 12)
        and 10 <= c["started_at"].astimezone(MSK).hour < 18
    ]
    assert weekday_noon and not any(c["missed_kind"] == "out_of_hours" for c in weekday_noon)


@pytest.fixture
async def reports(database_url: str) -> Any:
    await upgrade(database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    await write(sessions, COUNT, first=FIRST, days=31, seed=SEED, calendar=_calendar())
    rules = parse_rules(["74952220101=sales", "74952220202=support"])
    try:
        yield Reports(
            sessions=sessions,
            timezone="Europe/Moscow",
            did_rules=rules,
            clock=lambda: datetime(2027, 2, 1, 12, tzinfo=MSK),
        )
    finally:
        await engine.dispose()


async def test_a_month_s_report_reads_business_hours_and_lists_the_closed_line_apart(
    reports: Reports,
) -> None:
    calls = _month()
    month = ReportQuery(start="2027-01-01", end="2027-01-31")
    got = (await reports.summary(month, BOSS))["figures"]
    expected = figures(tally_calls(calls, threshold=20.0))
    keys = (
        "offered",
        "offered_in_hours",
        "missed",
        "missed_in_hours",
        "missed_out_of_hours",
        "missed_no_agent",
        "short_abandons",
        "service_level",
        "missed_rate",
        "abandon_rate",
    )
    assert {k: got[k] for k in keys} == {k: pytest.approx(expected[k], abs=1e-6) for k in keys}
    assert got["missed_out_of_hours"] > 0
    assert got["offered_in_hours"] + got["missed_out_of_hours"] == got["offered"]
    # the out-of-hours misses would drown the goal: with them the rate reads several times higher
    with_closed = (got["missed"] - got["short_abandons"]) / (got["offered"] - got["short_abandons"])
    assert with_closed > 2 * got["missed_rate"]

    days = {r["day"]: r for r in (await reports.breakdown(month, BOSS, "day"))["rows"]}
    for day in (date(2027, 1, 2), date(2027, 1, 12), date(2027, 1, 16)):
        row, hand = days[day.isoformat()], _by_hand(calls, day)
        assert {k: row[k] for k in hand} == {
            k: pytest.approx(v, abs=1e-6) if isinstance(v, float) else v for k, v in hand.items()
        }, day
    assert days["2027-01-02"]["missed_in_hours"] == 0  # a holiday: every miss is out of hours
    assert days["2027-01-12"]["missed_out_of_hours"] > 0  # a Tuesday's night calls

    lines = {r["did"]: r for r in (await reports.breakdown(month, BOSS, "did"))["rows"]}
    assert sum(r["missed_out_of_hours"] for r in lines.values()) == got["missed_out_of_hours"]
    # support keeps longer hours than sales: a smaller share of its calls comes when closed
    share = {d: r["missed_out_of_hours"] / r["offered"] for d, r in lines.items()}
    assert share["74952220202"] < share["74952220101"]
