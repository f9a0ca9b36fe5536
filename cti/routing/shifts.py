"""Agents' shifts, pure: a weekly pattern per agent or team, with vacations, sick days, swaps.

Rows are `who,days,hours,note`: `who` is a login or `@team`; hours `09:00-18:00`, or `off` on
dates (vacation, sick day). An agent's own rows win over their teams': a dated row replaces the
weekly pattern that day (a swapped shift), a dated `off` row takes them off. An agent with no
rows at all, of their own or of a team, has no shifts and is always on shift.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from cti.routing.model import AgentProfile
from cti.routing.schedules import RowError, ScheduleError
from cti.routing.timetable import Levels, TimeRow, covering, intervals, make_row, next_end

TEAM_PREFIX = "@"
_HEADER = ["who", "days", "hours", "note"]


def shift_levels(rows: Sequence[TimeRow], agent: AgentProfile) -> Levels:
    """The agent's own rows, then their teams' (teams in name order)."""
    own = [r for r in rows if r.owner == agent.login]
    teams = [r for r in rows if r.owner.startswith(TEAM_PREFIX) and r.owner[1:] in agent.teams]
    return [level for level in (own, teams) if level]


@dataclass(frozen=True, slots=True)
class ShiftStatus:
    """Whether an agent works at a moment; `why` is English for people."""

    on: bool
    why: str  #: "on shift until 18:00", "Ivanova is off shift", "Ivanova is on vacation"
    ends_at: datetime | None = None


def shift_status(
    rows: Sequence[TimeRow], agent: AgentProfile, at: datetime, tz: ZoneInfo
) -> ShiftStatus | None:
    """None when the agent has no shifts at all (always working); else on or off shift."""
    levels = shift_levels(rows, agent)
    if not levels:
        return None
    if covering(levels, at, tz) is not None:
        end = next_end(levels, at, tz)
        until = f" until {end.astimezone(tz):%H:%M}" if end is not None else ""
        return ShiftStatus(True, f"{agent.label} is on shift{until}", end)
    day_rows = [r for level in levels for r in level if at.astimezone(tz).date() in r.dates]
    off = next((r for r in day_rows if r.closed), None)
    if off is not None and off.label:
        return ShiftStatus(False, f"{agent.label} is off shift ({off.label})")
    return ShiftStatus(False, f"{agent.label} is off shift")


def shift_seconds(
    rows: Sequence[TimeRow], agent: AgentProfile, since: datetime, until: datetime, tz: ZoneInfo
) -> float | None:
    """Seconds of shift in [since, until), None when the agent has no shifts."""
    levels = shift_levels(rows, agent)
    if not levels:
        return None
    total = 0.0
    for start, end in merged(levels, since, until, tz):
        total += (end - start).total_seconds()
    return total


def merged(
    levels: Levels, since: datetime, until: datetime, tz: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """The shift intervals clipped to [since, until), overlaps joined."""
    out: list[tuple[datetime, datetime]] = []
    for start, end, _ in intervals(levels, since, until, tz):
        start, end = max(start, since), min(end, until)
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def shift_edges(
    rows: Sequence[TimeRow],
    agents: Iterable[AgentProfile],
    since: datetime,
    until: datetime,
    tz: ZoneInfo,
) -> list[tuple[datetime, str, bool]]:
    """(when, login, starts) of every shift start and end in (since, until], in time order: the
    moments the server may set agents available or offline."""
    edges: list[tuple[datetime, str, bool]] = []
    for agent in agents:
        levels = shift_levels(rows, agent)
        if not levels:
            continue
        for start, end in merged(levels, since - timedelta(days=1), until + timedelta(days=1), tz):
            if since < start <= until:
                edges.append((start, agent.login, True))
            if since < end <= until:
                edges.append((end, agent.login, False))
    edges.sort(key=lambda e: (e[0], e[1]))
    return edges


# --- files ----------------------------------------------------------------------------------


def read_shifts_csv(text: str) -> tuple[list[tuple[int, TimeRow]], list[RowError]]:
    """`who,days,hours,note` rows (header optional, # comments), each with its line number."""
    rows: list[tuple[int, TimeRow]] = []
    errors: list[RowError] = []
    for number, raw in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in raw]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and [c.lower() for c in cells[:3]] == _HEADER[:3]:
            continue
        if len(cells) == 3:
            cells.append("")
        if len(cells) != 4:
            errors.append(
                RowError(number, f"expected who,days,hours[,note]; got {len(cells)} fields")
            )
            continue
        if cells[0] == TEAM_PREFIX or cells[0] == "*":
            errors.append(RowError(number, "who is a login or @team (e.g. ivanova, @sales)"))
            continue
        try:
            rows.append((number, make_row(*cells)))
        except ScheduleError as exc:
            errors.append(RowError(number, str(exc)))
    return rows, errors


def write_shifts_csv(rows: Iterable[TimeRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_HEADER)
    for r in rows:
        writer.writerow([r.owner, r.days, "off" if r.closed else r.hours, r.label])
    return out.getvalue()
