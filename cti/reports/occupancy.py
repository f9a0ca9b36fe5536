"""Agents' time over their shifts, pure: shift time, shift time with no state set, occupancy.

An agent who never pressed a state button but worked the whole shift is in the default state
(routing_default_state, available) for it: the shift time no state interval covers counts there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

Span = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class ShiftTime:
    """One agent's shifts within a period (up to now)."""

    on_shift: float  #: seconds of shift
    unrecorded: float  #: of those, seconds no state interval covers (counted as the default state)


def uncovered(spans: Sequence[Span], covered: Iterable[Span]) -> float:
    """Seconds of `spans` (disjoint, in order) that no `covered` span overlaps."""
    marks = sorted((a, b) for a, b in covered if b > a)
    total = 0.0
    for start, end in spans:
        cursor = start
        for a, b in marks:
            if b <= cursor or a >= end:
                continue
            if a > cursor:
                total += (a - cursor).total_seconds()
            cursor = max(cursor, b)
            if cursor >= end:
                break
        if cursor < end:
            total += (end - cursor).total_seconds()
    return total


def shift_time(spans: Sequence[Span], covered: Iterable[Span]) -> ShiftTime:
    on = sum((b - a).total_seconds() for a, b in spans)
    return ShiftTime(round(on, 1), round(uncovered(spans, covered), 1))


def occupancy(talk_seconds: float, on_shift: float | None) -> float | None:
    """Talk time / shift time (None without shifts, or with none in the period)."""
    if not on_shift:
        return None
    return round(min(1.0, talk_seconds / on_shift), 6)
