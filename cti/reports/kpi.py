"""Pure KPI formulas of the supervisor reports: tallies of inbound calls and callbacks to figures.

The database adds calls up (`Tally`, one per group, mergeable); everything a supervisor reads
(service level both ways, missed and abandon rates, ASA, callback times) is computed here from
those sums, so SQLite, PostgreSQL and the hand-computed fixtures agree by construction.
Formulas are documented in docs/reports.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

#: kinds of missed calls, in the order SPEC decides them
MISSED_KINDS: tuple[str, ...] = ("abandoned", "out_of_hours", "no_agent", "busy", "no_answer")

#: contact-centre goals the tiles are coloured against: (comparison, goal, warning band)
GOALS: dict[str, tuple[str, float, float]] = {
    "service_level": (">=", 0.80, 0.70),  #: 80/20: 80% answered within T
    "missed_rate": ("<=", 0.03, 0.05),  #: at most 3% missed
    "callbacks_within_sla": (">=", 0.80, 0.60),  #: callbacks made within callback_sla_minutes
}


@dataclass(frozen=True, slots=True)
class Tally:
    """Sums over a set of inbound calls, as one SQL GROUP BY row adds them up."""

    offered: int = 0  #: inbound calls
    answered: int = 0  #: a person answered
    answered_within: int = 0  #: answered with wait <= T (inclusive)
    abandoned: int = 0  #: missed, kind abandoned (short abandons included)
    out_of_hours: int = 0
    no_agent: int = 0  #: the line was open, nobody could be offered the call
    busy: int = 0
    no_answer: int = 0
    short_abandons: int = 0  #: abandoned within short_abandon_seconds
    wait_sum: float = 0.0  #: wait of every offered call
    wait_max: float = 0.0
    answer_wait_sum: float = 0.0  #: wait of answered calls (speed of answer)
    talk_sum: float = 0.0  #: talk of answered calls
    fallbacks: int = 0  #: routed to a later step than the caller's first choice
    duty_fallbacks: int = 0  #: ...and that step was the duty operator

    @property
    def missed(self) -> int:
        return self.abandoned + self.out_of_hours + self.no_agent + self.busy + self.no_answer

    def __add__(self, other: Tally) -> Tally:
        values: dict[str, Any] = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            values[f.name] = max(a, b) if f.name == "wait_max" else a + b
        return Tally(**values)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Tally:
        """A tally from a database row (NULL sums of an empty group are zero)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = row.get(f.name)
            values[f.name] = float(value or 0) if f.type == "float" else int(value or 0)
        return cls(**values)


def tally_calls(calls: Iterable[Mapping[str, Any]], *, threshold: float) -> Tally:
    """The reference tally over plain call rows (the `cti calls --json` shape): what SQL computes."""
    total = Tally()
    for call in calls:
        if call.get("direction") != "inbound":
            continue
        answered = call.get("outcome") == "answered"
        wait = float(call.get("wait_seconds") or 0.0)
        kind = call.get("missed_kind") if call.get("outcome") == "missed" else None
        fallback = bool(call.get("fallback"))
        total = total + Tally(
            offered=1,
            answered=int(answered),
            answered_within=int(answered and wait <= threshold),
            abandoned=int(kind == "abandoned"),
            out_of_hours=int(kind == "out_of_hours"),
            no_agent=int(kind == "no_agent"),
            busy=int(kind == "busy"),
            no_answer=int(kind == "no_answer"),
            short_abandons=int(kind == "abandoned" and bool(call.get("short_abandon"))),
            wait_sum=wait,
            wait_max=wait,
            answer_wait_sum=wait if answered else 0.0,
            talk_sum=float(call.get("talk_seconds") or 0.0) if answered else 0.0,
            fallbacks=int(fallback),
            duty_fallbacks=int(fallback and call.get("route_kind") == "duty"),
        )
    return total


def ratio(part: float, whole: float) -> float | None:
    """part / whole, or None when there is nothing to divide by (shown as "no data", not 0%)."""
    return part / whole if whole > 0 else None


def figures(t: Tally) -> dict[str, Any]:
    """Every call KPI of one tally, flat (one CSV row). Ratios are fractions (0.8 = 80%)."""
    # the rates read business hours: out-of-hours misses (the line was closed) and short
    # abandons are left out of them, and listed as their own figures
    in_hours = t.offered - t.out_of_hours
    counted = in_hours - t.short_abandons
    return {
        "offered": t.offered,
        "offered_in_hours": in_hours,
        "answered": t.answered,
        "answered_within_threshold": t.answered_within,
        "missed": t.missed,
        **{f"missed_{kind}": getattr(t, kind) for kind in MISSED_KINDS},
        "short_abandons": t.short_abandons,
        "service_level": _round(ratio(t.answered_within, counted)),
        "service_level_answered": _round(ratio(t.answered_within, t.answered)),
        "missed_in_hours": t.missed - t.out_of_hours,
        "missed_rate": _round(ratio(t.missed - t.out_of_hours - t.short_abandons, counted)),
        "abandon_rate": _round(ratio(t.abandoned - t.short_abandons, counted)),
        "answer_rate": _round(ratio(t.answered, counted)),
        "average_speed_of_answer": _seconds(ratio(t.answer_wait_sum, t.answered)),
        "average_wait": _seconds(ratio(t.wait_sum, t.offered)),
        "longest_wait": _seconds(t.wait_max) if t.offered else None,
        "average_talk": _seconds(ratio(t.talk_sum, t.answered)),
        "fallbacks": t.fallbacks,
        "duty_fallbacks": t.duty_fallbacks,
    }


@dataclass(frozen=True, slots=True)
class CallbackTally:
    """The callbacks of misses in a period: how fast they were resolved, how many still wait."""

    total: int = 0  #: callbacks made by missed calls in the period
    open: int = 0  #: of those, still open now
    overdue: int = 0  #: ...and past their deadline
    on_time: int = 0  #: resolved by their deadline (moved into the customer's window)
    resolved: int = 0
    within_sla: int = 0  #: resolved within the SLA of the miss
    median: float | None = None  #: miss -> resolution, seconds, of the resolved ones
    p90: float | None = None

    @classmethod
    def of(
        cls,
        *,
        total: int,
        open: int,
        overdue: int,
        on_time: int,
        durations: Sequence[float],
        sla_seconds: float,
    ) -> CallbackTally:
        """From each resolved callback's time (what SQLite returns; PostgreSQL adds up itself)."""
        return cls(
            total=total,
            open=open,
            overdue=overdue,
            on_time=on_time,
            resolved=len(durations),
            within_sla=sum(1 for d in durations if d <= sla_seconds),
            median=percentile(durations, 0.5),
            p90=percentile(durations, 0.9),
        )


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th quantile (0..1) by linear interpolation between closest ranks (PostgreSQL's
    percentile_cont, numpy's default); the median of 1, 2, 3, 4 is 2.5."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def callback_figures(t: CallbackTally) -> dict[str, Any]:
    """Callback time (median, p90), share within the SLA (of every callback: an open one is not
    within), share resolved by the deadline, open and overdue."""
    return {
        "callbacks": t.total,
        "callbacks_resolved": t.resolved,
        "callbacks_open": t.open,
        "callbacks_overdue": t.overdue,
        "callback_median": _seconds(t.median),
        "callback_p90": _seconds(t.p90),
        "callbacks_within_sla": _round(ratio(t.within_sla, t.total)),
        "callbacks_on_time": _round(ratio(t.on_time, t.total)),
    }


def goal_status(name: str, value: float | None) -> str | None:
    """good / warning / bad against GOALS (None: no goal, or no data)."""
    goal = GOALS.get(name)
    if goal is None or value is None:
        return None
    op, target, band = goal
    if op == ">=":
        return "good" if value >= target else "warning" if value >= band else "bad"
    return "good" if value <= target else "warning" if value <= band else "bad"


def goals(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each goal with its target and where `values` stand."""
    return {
        name: {"goal": target, "comparison": op, "status": goal_status(name, values.get(name))}
        for name, (op, target, _) in GOALS.items()
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


__all__ = [
    "GOALS",
    "MISSED_KINDS",
    "CallbackTally",
    "Tally",
    "callback_figures",
    "figures",
    "goal_status",
    "goals",
    "percentile",
    "ratio",
    "tally_calls",
]
