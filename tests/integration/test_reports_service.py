"""Report figures from the database against the hand-computed day (tests/reports_world.py),
on SQLite and PostgreSQL: summary, breakdowns, an agent's own figures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cti.db.migrate import upgrade
from cti.db.session import create_engine, session_factory
from cti.reports.period import ReportError
from cti.reports.service import ReportDenied, ReportQuery, Reports, Viewer
from cti.routing.rules import parse_rules
from tests.reports_world import DAY, EXPECTED, NOW, populate

BOSS = Viewer(login="boss", everything=True)
IVANOVA = Viewer(login="ivanova", everything=False, extensions=frozenset({"101"}))


@pytest.fixture
async def reports(database_url: str) -> AsyncIterator[Reports]:
    await upgrade(database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    await populate(sessions)
    rules = parse_rules(["74952220101=sales", "74952220202=support"])
    try:
        yield Reports(
            sessions=sessions, timezone="Europe/Moscow", did_rules=rules, clock=lambda: NOW
        )
    finally:
        await engine.dispose()


def approx(expected: dict) -> dict:
    return {
        k: pytest.approx(v, abs=1e-4) if isinstance(v, float) else v for k, v in expected.items()
    }


async def test_summary_matches_the_hand_computed_day(reports: Reports) -> None:
    result = await reports.summary(ReportQuery(start=DAY, end=DAY), BOSS)
    got = {k: result["figures"][k] for k in EXPECTED}
    assert got == approx(EXPECTED)
    assert result["period"]["start"] == "2026-11-24T21:00:00Z"
    assert result["goals"]["service_level"]["status"] == "bad"
    # the default period is today in the office (the clock's 26th: nothing yet)
    today = await reports.summary(ReportQuery(), BOSS)
    assert today["period"]["from"] == "2026-11-26" and today["figures"]["offered"] == 0
    assert today["figures"]["service_level"] is None


async def test_hour_of_day_shows_the_lunch_spike(reports: Reports) -> None:
    rows = (await reports.breakdown(ReportQuery(start=DAY, end=DAY), BOSS, "hour"))["rows"]
    assert len(rows) == 24
    offered = {r["hour"]: r["offered"] for r in rows if r["offered"]}
    assert offered == {9: 2, 12: 4, 13: 1, 23: 1}
    lunch = rows[12]
    assert (lunch["missed"], lunch["missed_rate"]) == (3, pytest.approx(2 / 3))


async def test_by_day_did_team_and_agent(reports: Reports) -> None:
    days = (await reports.breakdown(ReportQuery(start="2026-11-24", end=DAY), BOSS, "day"))["rows"]
    assert [(d["day"], d["offered"]) for d in days] == [("2026-11-24", 1), (DAY, 8)]
    dids = (await reports.breakdown(ReportQuery(start=DAY, end=DAY), BOSS, "did"))["rows"]
    assert [(d["did"], d["team"], d["offered"]) for d in dids] == [
        ("74952220101", "sales", 6),
        ("74952220202", "support", 2),
    ]
    teams = (await reports.breakdown(ReportQuery(period="week", on=DAY), BOSS, "team"))["rows"]
    assert [(t["team"], t["offered"]) for t in teams] == [("sales", 7), ("support", 2)]
    agents = {
        r["login"]: r
        for r in (await reports.breakdown(ReportQuery(start=DAY, end=DAY), BOSS, "agent"))["rows"]
    }
    assert (
        agents["ivanova"]["offered"],
        agents["ivanova"]["answered"],
        agents["ivanova"]["name"],
    ) == (5, 2, "Иванова")
    assert (
        agents["petrov"]["offered"],
        agents["petrov"]["answered"],
        agents["petrov"]["fallbacks"],
    ) == (4, 2, 1)
    assert agents["ivanova"]["time_paused"] == 3600.0
    assert (agents["petrov"]["callbacks"], agents["petrov"]["callbacks_open"]) == (4, 2)


async def test_an_agent_sees_only_their_own_figures(reports: Reports) -> None:
    mine = (await reports.summary(ReportQuery(start=DAY, end=DAY), IVANOVA))["figures"]
    assert (mine["offered"], mine["answered"], mine["missed"]) == (5, 3, 2)  # c1 c2 c3 c4 c6
    assert mine["callbacks"] == 0  # petrov's callbacks are not hers
    assert mine["time_paused"] == 3600.0
    rows = (await reports.breakdown(ReportQuery(start=DAY, end=DAY), IVANOVA, "agent"))["rows"]
    assert [r["login"] for r in rows] == ["ivanova"]
    with pytest.raises(ReportDenied):
        await reports.summary(ReportQuery(start=DAY, end=DAY, agent="petrov"), IVANOVA)
    # a supervisor filtering by one agent gets the same as she does
    hers = (await reports.summary(ReportQuery(start=DAY, end=DAY, agent="101"), BOSS))["figures"]
    assert hers["offered"] == 5 and hers["time_paused"] == 3600.0
    with pytest.raises(ReportError, match="agent"):
        await reports.summary(ReportQuery(start=DAY, end=DAY, agent="nobody"), BOSS)


async def test_did_filter(reports: Reports) -> None:
    support = (await reports.summary(ReportQuery(start=DAY, end=DAY, did="74952220202"), BOSS))[
        "figures"
    ]
    assert (support["offered"], support["missed_out_of_hours"], support["callbacks"]) == (2, 1, 1)


async def test_office_hours_and_days_across_a_dst_change(database_url: str) -> None:
    """Berlin, 2026-03-29: clocks jump 02:00 -> 03:00. Hours and days are the office's on both
    databases (PostgreSQL and SQLite compute them the same way from the zone's offsets)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from cti.db.calls import CallRepository
    from tests.reports_world import inbound

    berlin = ZoneInfo("Europe/Berlin")
    at = lambda d, h, m: datetime(2026, 3, d, h, m, tzinfo=berlin).timestamp()  # noqa: E731
    await upgrade(database_url)
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        await CallRepository(session_factory=sessions).save_many(
            [
                inbound("b1", at(28, 23, 59), wait=1, answered_by="101", talk=5, rung=("101",)),
                inbound("b2", at(29, 1, 30), wait=1, answered_by="101", talk=5, rung=("101",)),
                inbound("b3", at(29, 3, 30), wait=1, answered_by="101", talk=5, rung=("101",)),
                inbound("b4", at(29, 23, 59), wait=1, answered_by="101", talk=5, rung=("101",)),
            ]
        )
        reports = Reports(sessions=sessions, timezone="Europe/Berlin", clock=lambda: NOW)
        q = ReportQuery(start="2026-03-28", end="2026-03-29")
        hours = {
            r["hour"]: r["offered"]
            for r in (await reports.breakdown(q, BOSS, "hour"))["rows"]
            if r["offered"]
        }
        assert hours == {23: 2, 1: 1, 3: 1}
        days = [(r["day"], r["offered"]) for r in (await reports.breakdown(q, BOSS, "day"))["rows"]]
        assert days == [("2026-03-28", 1), ("2026-03-29", 3)]
    finally:
        await engine.dispose()


async def test_agents_time_over_their_shifts_and_occupancy(
    reports: Reports, database_url: str
) -> None:
    from cti.db.calendars import CalendarRepository
    from cti.routing.timetable import make_row

    day = ReportQuery(start=DAY, end=DAY)
    before = {r["login"]: r for r in (await reports.breakdown(day, BOSS, "agent"))["rows"]}
    # Petrov never pressed a state button: without shifts his day reads 0:00 and no occupancy
    assert before["petrov"]["time_available"] == 0.0
    assert before["petrov"]["time_on_shift"] is None and before["petrov"]["occupancy"] is None

    engine = create_engine(database_url)
    try:
        await CalendarRepository(session_factory=session_factory(engine)).replace_shift_rows(
            [make_row("@sales", "wed", "09:00-18:00")]  # 2026-11-25 is a Wednesday
        )
    finally:
        await engine.dispose()
    rows = {r["login"]: r for r in (await reports.breakdown(day, BOSS, "agent"))["rows"]}
    assert rows["petrov"]["time_on_shift"] == 9 * 3600.0
    assert rows["petrov"]["time_available"] == 9 * 3600.0  # his shift, in the default state
    assert rows["petrov"]["occupancy"] == pytest.approx(90 / (9 * 3600), abs=1e-6)  # c3 + c7
    # Ivanova set her states all shift long: nothing is added to them
    assert (rows["ivanova"]["time_available"], rows["ivanova"]["time_paused"]) == (
        8 * 3600.0,
        3600.0,
    )
    assert rows["ivanova"]["occupancy"] == pytest.approx(300 / (9 * 3600), abs=1e-6)  # c1 + c2
    summary = (await reports.summary(day, BOSS))["figures"]
    assert summary["time_on_shift"] == 18 * 3600.0
    assert summary["time_available"] == 17 * 3600.0
    mine = (await reports.summary(day, IVANOVA))["figures"]
    assert mine["time_on_shift"] == 9 * 3600.0
