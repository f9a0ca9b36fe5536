"""KPI formulas against hand-computed figures (docs/reports.md), with no database."""

from __future__ import annotations

from datetime import date

import pytest

from cti.reports.kpi import (
    CallbackTally,
    Tally,
    callback_figures,
    figures,
    goal_status,
    percentile,
    tally_calls,
)
from cti.reports.period import ReportError, check_breakdown, resolve_period, utc_offsets


def call(
    outcome: str,
    wait: float,
    *,
    kind: str | None = None,
    short: bool = False,
    talk: float = 0.0,
    route_kind: str | None = None,
    fallback: bool | None = None,
    direction: str = "inbound",
) -> dict:
    return {
        "direction": direction,
        "outcome": outcome,
        "wait_seconds": wait,
        "missed_kind": kind,
        "short_abandon": short,
        "talk_seconds": talk,
        "route_kind": route_kind,
        "fallback": fallback,
    }


def icmi_calls() -> list[dict]:
    """ICMI's example: 1,000 answered, 860 of them within 20 s; 60 abandoned, 20 of them within
    20 s (here: short abandons, after 3 s), the other 40 after 45 s."""
    calls = [call("answered", 10.0, talk=120.0) for _ in range(860)]
    calls += [call("answered", 20.5, talk=60.0) for _ in range(140)]
    calls += [call("missed", 3.0, kind="abandoned", short=True) for _ in range(20)]
    calls += [call("missed", 45.0, kind="abandoned") for _ in range(40)]
    return calls


def test_icmi_example_where_the_formulas_disagree() -> None:
    f = figures(tally_calls(icmi_calls(), threshold=20.0))
    assert (f["offered"], f["answered"], f["missed"], f["short_abandons"]) == (1060, 1000, 60, 20)
    # answered within T / offered, short abandons excluded: 860 / (1060 - 20)
    assert f["service_level"] == pytest.approx(860 / 1040, abs=1e-6)  # 82.69%
    # Asterisk's servicelevel: answered within T / answered
    assert f["service_level_answered"] == pytest.approx(0.86)
    # the two disagree by more than three points on the same calls
    assert f["service_level_answered"] - f["service_level"] > 0.03
    assert f["missed_rate"] == pytest.approx(40 / 1040, abs=1e-6)  # 3.85%: above the 3% goal
    assert f["abandon_rate"] == pytest.approx(40 / 1040, abs=1e-6)
    assert goal_status("service_level", f["service_level"]) == "good"
    assert goal_status("missed_rate", f["missed_rate"]) == "warning"
    # speed of answer over answered calls; wait over every call
    assert f["average_speed_of_answer"] == pytest.approx((860 * 10 + 140 * 20.5) / 1000, abs=0.01)
    assert f["average_wait"] == pytest.approx(
        (860 * 10 + 140 * 20.5 + 20 * 3 + 40 * 45) / 1060, abs=0.01
    )
    assert f["longest_wait"] == 45.0
    assert f["average_talk"] == pytest.approx((860 * 120 + 140 * 60) / 1000, abs=0.01)


def test_threshold_is_inclusive() -> None:
    calls = [call("answered", 20.0), call("answered", 20.01)]
    f = figures(tally_calls(calls, threshold=20.0))
    assert f["answered_within_threshold"] == 1
    assert f["service_level"] == 0.5


def test_missed_by_kind_fallbacks_and_what_is_not_counted() -> None:
    calls = [
        call("missed", 0.0, kind="out_of_hours"),
        call("missed", 30.0, kind="busy"),
        call("missed", 40.0, kind="no_answer"),
        call("answered", 25.0, route_kind="duty", fallback=True),
        call("answered", 5.0, route_kind="manager", fallback=False),
        call("answered", 3.0, direction="outbound"),  # never offered: not an inbound call
        call("unanswered", 9.0, direction="internal"),
    ]
    f = figures(tally_calls(calls, threshold=20.0))
    assert f["offered"] == 5
    assert (
        f["missed_out_of_hours"],
        f["missed_busy"],
        f["missed_no_answer"],
        f["missed_abandoned"],
    ) == (1, 1, 1, 0)
    # the rates read business hours: the out-of-hours miss is listed, not in the missed rate
    assert (f["offered_in_hours"], f["missed_in_hours"]) == (4, 2)
    assert f["missed_rate"] == pytest.approx(2 / 4)
    assert (f["fallbacks"], f["duty_fallbacks"]) == (1, 1)
    assert f["service_level"] == pytest.approx(1 / 4)
    assert goal_status("missed_rate", f["missed_rate"]) == "bad"


def test_no_calls_is_no_data_not_zero_percent() -> None:
    f = figures(Tally())
    assert f["offered"] == 0
    assert (
        f["service_level"] is None
        and f["missed_rate"] is None
        and f["average_speed_of_answer"] is None
    )
    assert goal_status("service_level", None) is None


def test_tallies_add_up_like_sql_groups() -> None:
    calls = icmi_calls()
    whole = tally_calls(calls, threshold=20.0)
    halves = tally_calls(calls[:500], threshold=20.0) + tally_calls(calls[500:], threshold=20.0)
    assert halves == whole


def test_percentiles_interpolate_like_percentile_cont() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert percentile([10.0], 0.9) == 10.0
    assert percentile(list(map(float, range(1, 11))), 0.9) == pytest.approx(9.1)
    assert percentile([], 0.5) is None


def test_callback_time_median_p90_and_share_within_sla() -> None:
    # 5 callbacks: 3 resolved after 60 s, 240 s and 600 s; 2 still open (one overdue)
    t = CallbackTally.of(
        total=5, open=2, overdue=1, on_time=2, durations=(600.0, 60.0, 240.0), sla_seconds=300.0
    )
    f = callback_figures(t)
    assert f["callback_median"] == 240.0
    assert f["callback_p90"] == pytest.approx(528.0)  # 240 + 0.8 * (600 - 240)
    assert f["callbacks_within_sla"] == pytest.approx(2 / 5)  # an open callback is not within
    assert f["callbacks_on_time"] == pytest.approx(2 / 5)
    assert (f["callbacks_open"], f["callbacks_overdue"], f["callbacks_resolved"]) == (2, 1, 3)
    assert goal_status("callbacks_within_sla", f["callbacks_within_sla"]) == "bad"


def test_periods_are_office_days() -> None:
    today = date(2026, 11, 25)  # a Wednesday
    day = resolve_period(today=today, timezone="Europe/Moscow")
    assert day.start.isoformat() == "2026-11-24T21:00:00+00:00"
    assert day.end.isoformat() == "2026-11-25T21:00:00+00:00"
    week = resolve_period(today=today, timezone="Europe/Moscow", period="week")
    assert (week.first.isoformat(), week.last.isoformat()) == ("2026-11-23", "2026-11-29")
    month = resolve_period(today=today, timezone="Europe/Moscow", period="month", on="2026-02-10")
    assert (month.first.isoformat(), month.last.isoformat()) == ("2026-02-01", "2026-02-28")
    custom = resolve_period(
        today=today, timezone="Europe/Moscow", start="2026-11-01", end="2026-11-03"
    )
    assert len(custom.days) == 3


def test_a_dst_day_is_23_hours_and_sqlite_gets_the_offsets() -> None:
    spring = resolve_period(today=date(2026, 3, 29), timezone="Europe/Berlin")
    assert (spring.end - spring.start).total_seconds() == 23 * 3600
    offsets = utc_offsets(spring)
    assert [o for _, o in offsets] == [3600, 7200]
    assert offsets[1][0].isoformat() == "2026-03-29T01:00:00+00:00"
    assert [
        o for _, o in utc_offsets(resolve_period(today=date(2026, 6, 1), timezone="Europe/Moscow"))
    ] == [10800]


@pytest.mark.parametrize(
    ("kwargs", "parameter", "words"),
    [
        ({"start": "2026-11-30", "end": "2026-11-01"}, "from", "after"),
        ({"start": "25.11.2026"}, "from", "YYYY-MM-DD"),
        ({"end": "2026-13-01"}, "to", "YYYY-MM-DD"),
        ({"period": "year"}, "period", "day, week or month"),
        ({"start": "2024-01-01", "end": "2026-01-01"}, "to", "367 days"),
        ({"period": "day", "start": "2026-11-01"}, "period", "not both"),
    ],
)
def test_bad_periods_name_the_parameter(kwargs: dict, parameter: str, words: str) -> None:
    with pytest.raises(ReportError) as caught:
        resolve_period(today=date(2026, 11, 25), timezone="Europe/Moscow", **kwargs)
    assert caught.value.parameter == parameter
    assert words in caught.value.message


def test_unknown_breakdown_is_refused() -> None:
    assert check_breakdown("hour") == "hour"
    with pytest.raises(ReportError, match="by: 'queue' is not a breakdown"):
        check_breakdown("queue")
