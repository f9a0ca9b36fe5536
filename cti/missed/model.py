"""Missed calls and callbacks as the domain sees them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, time


class CallbackState(enum.StrEnum):
    OPEN = "open"  #: waiting for someone to call the customer back
    RESOLVED = "resolved"  #: the customer was reached (or it was closed by hand with a note)


class Resolution(enum.StrEnum):
    OUTBOUND_ANSWERED = "outbound_answered"  #: we called them and they answered
    INBOUND_ANSWERED = "inbound_answered"  #: they called again and an agent answered
    MANUAL = "manual"  #: closed by hand, with a note


class CallbackSource(enum.StrEnum):
    MISSED_CALL = "missed_call"  #: made by a missed call
    AGENT = "agent"  #: left by an agent for a colleague ("call back about order 1234")


@dataclass(frozen=True, slots=True)
class CallbackWindow:
    """Business hours in the customer's own time zone: nobody is called at night."""

    start: time = time(9, 0)
    end: time = time(21, 0)


@dataclass(frozen=True, slots=True)
class OwnerContext:
    """What is known at the time of the miss to choose who calls back."""

    manager_login: str | None = None
    manager_available: bool = True
    duty_login: str | None = None
    default_owner: str | None = None
    last_rung: str | None = None  #: login of the last agent whose phone the call rang
    team: str = ""  #: the line's team (the DID's); "" = every agent


@dataclass(frozen=True, slots=True)
class OwnerChoice:
    """Who calls back: an agent (`login`), or with no login the shared list of `team` that
    every agent of that line sees and may claim. Never nobody."""

    login: str | None
    #: stable code: manager, duty, manager_unavailable_no_duty, last_rung, default, team
    reason: str
    team: str = ""

    @property
    def shared(self) -> bool:
        return self.login is None


@dataclass(frozen=True, slots=True)
class CallbackDue:
    """A callback to create or to add a miss to."""

    number: str  #: E.164 of the customer to call back
    owner: OwnerChoice
    deadline: datetime  #: aware, UTC
    customer_id: int | None = None
    note: str = ""
    requested_for: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)
