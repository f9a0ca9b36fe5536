"""Pure rules of missed calls and callbacks: which calls, who calls back, by when, what resolves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from cti.calls.model import CallRecord, Direction, Outcome
from cti.missed.model import CallbackWindow, OwnerChoice, OwnerContext


def is_missed(record: CallRecord) -> bool:
    """SPEC: an inbound call that ended with no agent answering. Internal and outbound never."""
    return record.direction is Direction.INBOUND and record.outcome is Outcome.MISSED


def choose_owner(ctx: OwnerContext) -> OwnerChoice:
    """The responsible manager when they can call back now; else the duty operator on shift at
    the time of the miss; else the manager anyway (they will be back); else the last agent the
    call rang; else the configured default owner; else the line's team's shared list, which
    every agent of the line sees and may claim. Never nobody."""
    if ctx.manager_login and ctx.manager_available:
        return OwnerChoice(ctx.manager_login, "manager", ctx.team)
    if ctx.duty_login:
        return OwnerChoice(ctx.duty_login, "duty", ctx.team)
    if ctx.manager_login:
        return OwnerChoice(ctx.manager_login, "manager_unavailable_no_duty", ctx.team)
    if ctx.last_rung:
        return OwnerChoice(ctx.last_rung, "last_rung", ctx.team)
    if ctx.default_owner:
        return OwnerChoice(ctx.default_owner, "default", ctx.team)
    return OwnerChoice(None, "team", ctx.team)


def into_window(moment: datetime, tz: ZoneInfo, window: CallbackWindow) -> datetime:
    """`moment` if it falls inside the window in the customer's time zone, else the window's next
    opening. Returned in UTC."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("callback times must be timezone-aware")
    local = moment.astimezone(tz)
    start = local.replace(
        hour=window.start.hour, minute=window.start.minute, second=0, microsecond=0
    )
    end = local.replace(hour=window.end.hour, minute=window.end.minute, second=0, microsecond=0)
    if local < start:
        local = start
    elif local >= end:
        local = start + timedelta(days=1)
        # a DST change overnight: rebuild the wall-clock time in the new offset
        local = local.replace(tzinfo=None).replace(tzinfo=tz)
    return local.astimezone(ZoneInfo("UTC"))


#: the line's next opening at or after a moment (None: not within a year)
Opening = Callable[[datetime], datetime | None]
_SETTLE = 30  # a window and business hours that never meet give up after this many moves


def callback_deadline(
    missed_at: datetime,
    *,
    sla: timedelta,
    tz: ZoneInfo,
    window: CallbackWindow,
    opening: Opening | None = None,
) -> datetime:
    """SPEC: miss time + SLA (default 5 min), moved into the customer's callback window and, when
    the line keeps business hours, to a moment it is open (the next opening, in the customer's
    window): nobody is due to call back while the office is closed or the customer asleep."""
    due = into_window(missed_at + sla, tz, window)
    if opening is None:
        return due
    for _ in range(_SETTLE):
        opens = opening(due)
        if opens is None:
            return due
        moved = into_window(opens, tz, window)
        if moved == due:
            return due
        due = moved
    return due


def requested_time_ok(at: datetime, tz: ZoneInfo, window: CallbackWindow) -> bool:
    """A chosen time ("call me at 15:00") must fall inside the customer's window."""
    return into_window(at, tz, window) == at.astimezone(ZoneInfo("UTC"))


def resolves(record: CallRecord, number: str) -> bool:
    """An answered call with the customer: we called them and they answered, or they called again
    and an agent answered."""
    if record.outcome is not Outcome.ANSWERED:
        return False
    if record.direction is Direction.OUTBOUND:
        return record.did_e164 == number
    if record.direction is Direction.INBOUND:
        return record.caller_e164 == number
    return False


def is_attempt(record: CallRecord, number: str) -> bool:
    """An outbound call to the number that nobody answered: an attempt, not a resolution."""
    return (
        record.direction is Direction.OUTBOUND
        and record.outcome is not Outcome.ANSWERED
        and record.did_e164 == number
    )
