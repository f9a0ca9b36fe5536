"""SPEC's missed-call and callback rules, pure: which calls, who calls back, by when, what resolves."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from cti.calls.model import CallRecord, Direction, MissedKind, Outcome
from cti.missed.model import CallbackWindow, OwnerContext
from cti.missed.rules import (
    callback_deadline,
    choose_owner,
    is_attempt,
    is_missed,
    requested_time_ok,
    resolves,
)

MSK, VLAT = ZoneInfo("Europe/Moscow"), ZoneInfo("Asia/Vladivostok")
WINDOW = CallbackWindow()
SLA = timedelta(minutes=5)

BASE = CallRecord(
    linkedid="1.1",
    direction=Direction.INBOUND,
    caller="89161234567",
    caller_e164="+79161234567",
    caller_name="",
    did="74952220101",
    agents_rung=("101",),
    answered_by=(),
    outcome=Outcome.MISSED,
    missed_kind=MissedKind.NO_ANSWER,
    short_abandon=False,
    started_at=1000.0,
    answered_at=None,
    ended_at=1010.0,
    wait_seconds=10.0,
    talk_seconds=0.0,
)


@pytest.mark.parametrize(
    ("change", "missed"),
    [
        ({}, True),
        ({"missed_kind": MissedKind.ABANDONED, "short_abandon": True}, True),
        (
            {"outcome": Outcome.ANSWERED, "missed_kind": None, "answered_by": ("199",)},
            False,
        ),  # fallback answered
        (
            {
                "outcome": Outcome.ANSWERED,
                "missed_kind": None,
                "answered_by": ("101", "102"),
                "transferred": True,
            },
            False,
        ),
        (
            {"direction": Direction.INTERNAL, "outcome": Outcome.UNANSWERED, "missed_kind": None},
            False,
        ),
        (
            {"direction": Direction.OUTBOUND, "outcome": Outcome.UNANSWERED, "missed_kind": None},
            False,
        ),
    ],
)
def test_which_calls_are_missed(change: dict, missed: bool) -> None:
    assert is_missed(replace(BASE, **change)) is missed


@pytest.mark.parametrize(
    ("ctx", "owner", "reason"),
    [
        (OwnerContext("ivanova", True, "petrov", "boss"), "ivanova", "manager"),
        (
            OwnerContext("ivanova", False, "petrov", "boss"),
            "petrov",
            "duty",
        ),  # the manager is at lunch
        (OwnerContext("ivanova", False, None, "boss"), "ivanova", "manager_unavailable_no_duty"),
        (OwnerContext(None, True, "petrov", "boss"), "petrov", "duty"),  # unknown caller
        (OwnerContext(None, True, None, "boss"), "boss", "default"),
        # nobody manages the caller and nobody is on duty: the last agent the call rang
        (OwnerContext(None, True, None, "boss", "sidorov"), "sidorov", "last_rung"),
        (
            OwnerContext("ivanova", False, None, None, "sidorov"),
            "ivanova",
            "manager_unavailable_no_duty",
        ),
        # nobody rang (a closed line) and no default: the line's team's shared list, never nobody
        (OwnerContext(None, True, None, None, None, "sales"), None, "team"),
        (OwnerContext(None, True, None, None), None, "team"),
    ],
)
def test_owner(ctx: OwnerContext, owner: str | None, reason: str) -> None:
    choice = choose_owner(ctx)
    assert (choice.login, choice.reason, choice.team) == (owner, reason, ctx.team)
    assert choice.shared is (owner is None)


def msk(y: int, mo: int, d: int, h: int, mi: int) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=MSK)


def test_deadline_is_five_minutes_later_inside_business_hours() -> None:
    assert callback_deadline(msk(2026, 11, 25, 14, 0), sla=SLA, tz=MSK, window=WINDOW) == msk(
        2026, 11, 25, 14, 5
    )


def test_late_evening_miss_is_called_back_next_morning() -> None:
    assert callback_deadline(msk(2026, 11, 25, 20, 58), sla=SLA, tz=MSK, window=WINDOW) == msk(
        2026, 11, 26, 9, 0
    )


def test_vladivostok_customer_missed_at_2330_moscow_is_due_in_their_morning() -> None:
    due = callback_deadline(msk(2026, 11, 25, 23, 30), sla=SLA, tz=VLAT, window=WINDOW)
    # 23:35 Moscow is 06:35 in Vladivostok: before their 09:00, so 09:00 their time
    assert due.astimezone(VLAT) == datetime(2026, 11, 26, 9, 0, tzinfo=VLAT)
    assert due.astimezone(MSK) == msk(2026, 11, 26, 2, 0)


def test_early_morning_miss_waits_for_the_window_and_custom_windows() -> None:
    due = callback_deadline(
        msk(2026, 11, 25, 3, 0), sla=SLA, tz=MSK, window=CallbackWindow(time(10), time(18))
    )
    assert due == msk(2026, 11, 25, 10, 0)


def test_requested_time_must_be_inside_the_customer_window() -> None:
    assert requested_time_ok(msk(2026, 11, 25, 15, 0), MSK, WINDOW)
    assert not requested_time_ok(msk(2026, 11, 25, 22, 0), MSK, WINDOW)
    assert not requested_time_ok(msk(2026, 11, 25, 15, 0), VLAT, WINDOW)  # 22:00 in Vladivostok


def outbound(number: str, answered: bool) -> CallRecord:
    return replace(
        BASE,
        linkedid="2.2",
        direction=Direction.OUTBOUND,
        caller="101",
        caller_e164=None,
        did="8" + number[2:],
        did_e164=number,
        outcome=Outcome.ANSWERED if answered else Outcome.UNANSWERED,
        missed_kind=None,
        answered_by=("101",) if answered else (),
        answered_at=1100.0 if answered else None,
    )


def test_what_resolves_a_callback() -> None:
    number = "+79161234567"
    assert resolves(outbound(number, True), number)
    assert not resolves(outbound(number, False), number) and is_attempt(
        outbound(number, False), number
    )
    assert not resolves(outbound("+79031112233", True), number)
    inbound_again = replace(
        BASE, outcome=Outcome.ANSWERED, missed_kind=None, answered_by=("102",), answered_at=1200.0
    )
    assert resolves(inbound_again, number)
    assert not resolves(BASE, number)  # missed again: not a resolution


def test_naive_times_are_not_accepted() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        callback_deadline(datetime(2026, 1, 1, 12), sla=SLA, tz=MSK, window=WINDOW)
    assert (
        callback_deadline(
            datetime(2026, 1, 1, 9, tzinfo=UTC), sla=SLA, tz=MSK, window=WINDOW
        ).tzinfo
        is not None
    )
