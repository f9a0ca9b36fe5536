"""What routing reasons about: agents, customers, presence, device states, and the decision."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from cti.calls.model import iso


class UnknownAgent(LookupError):
    """No agent has this login."""

    def __init__(self, login: str) -> None:
        super().__init__(f"no agent with login {login!r}")
        self.login = login


class UnknownShift(LookupError):
    """No duty row has this id."""

    def __init__(self, shift_id: int) -> None:
        super().__init__(f"no duty row with id {shift_id}")
        self.shift_id = shift_id


class AgentState(enum.StrEnum):
    AVAILABLE = "available"  #: ready for calls
    PAUSED = "paused"  #: away for a while, with a reason (lunch, meeting, break)
    DND = "dnd"  #: do not disturb: at the desk, but takes no calls
    OFFLINE = "offline"  #: logged out, not working now


class DeviceState(enum.StrEnum):
    """Asterisk's device states (DEVICE_STATE(), DeviceStateChange)."""

    NOT_INUSE = "NOT_INUSE"  #: registered and idle
    INUSE = "INUSE"  #: on a call
    BUSY = "BUSY"  #: busy (e.g. every line in use)
    RINGING = "RINGING"  #: ringing
    RINGINUSE = "RINGINUSE"  #: ringing while on another call
    ONHOLD = "ONHOLD"  #: a call on hold
    UNAVAILABLE = "UNAVAILABLE"  #: not registered / unreachable
    INVALID = "INVALID"  #: no such device
    UNKNOWN = "UNKNOWN"  #: Asterisk does not know: the phone is still tried


#: device states in which the phone cannot ring at all
UNREACHABLE = frozenset({DeviceState.UNAVAILABLE, DeviceState.INVALID})
#: device states that mean the phone holds a call (or rings with one) right now
OCCUPIED = frozenset(
    {
        DeviceState.INUSE,
        DeviceState.BUSY,
        DeviceState.RINGING,
        DeviceState.RINGINUSE,
        DeviceState.ONHOLD,
    }
)


class TargetKind(enum.StrEnum):
    """The step of the chain a target comes from; a stable code the console translates."""

    MANAGER = "manager"  #: the customer's responsible (account) manager
    MANAGER_MOBILE = "manager_mobile"  #: that manager's mobile (follow-me)
    VIP_SENIOR = "vip_senior"  #: a senior agent, for a VIP customer
    DISTRIBUTION = "distribution"  #: an agent of the team, least recently offered first
    DUTY = "duty"  #: the duty operator on shift
    VOICEMAIL = "voicemail"  #: the mailbox, when nobody answers


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """An agent as routing sees it (adapted from the directory at the rim)."""

    login: str
    name: str = ""
    extension: str = ""
    device: str = ""  #: dial string of the desk phone, e.g. PJSIP/101
    mobile: str = ""  #: E.164 for follow-me, empty when none
    teams: frozenset[str] = frozenset()
    seniority: int = 0  #: higher is more experienced
    max_calls: int = 1  #: calls in progress at which the agent is offered no more

    @property
    def label(self) -> str:
        return self.name or self.login

    @property
    def dial(self) -> str:
        if self.device:
            return self.device
        return f"PJSIP/{self.extension}" if self.extension else ""


@dataclass(frozen=True, slots=True)
class CustomerInfo:
    """The matched caller, as routing needs it."""

    id: str
    name: str = ""
    company: str = ""
    vip: bool = False
    manager_login: str | None = None

    @property
    def label(self) -> str:
        return self.company or self.name or f"customer {self.id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "company": self.company,
            "vip": self.vip,
            "manager_login": self.manager_login,
        }


@dataclass(frozen=True, slots=True)
class Presence:
    """An agent's own state: set from the console, the API or the CLI."""

    state: AgentState
    reason: str = ""  #: why paused: lunch, meeting...
    since: float = 0.0


@dataclass(frozen=True, slots=True)
class StateInterval:
    """One interval of an agent's own state (stored; "how long was she at lunch")."""

    login: str
    state: AgentState
    reason: str
    started_at: float
    ended_at: float | None
    actor: str = ""

    def seconds(self, until: float) -> float:
        return max(0.0, (self.ended_at if self.ended_at is not None else until) - self.started_at)


@dataclass(frozen=True, slots=True)
class Target:
    """One step of the dialplan's chain: ring `dial` for `timeout` seconds."""

    dial: str
    timeout: int
    kind: TargetKind
    reason: str  #: human-readable, English; translate by `kind`
    agent: str | None = None  #: login, when the target is an agent

    def to_json(self) -> dict[str, Any]:
        return {
            "dial": self.dial,
            "timeout": self.timeout,
            "kind": self.kind.value,
            "reason": self.reason,
            "agent": self.agent,
        }


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a step of the chain was taken or skipped: a stable code plus English text."""

    step: TargetKind
    code: str  #: e.g. paused, dnd, offline, unreachable, at_limit, none_on_duty
    text: str
    agent: str | None = None
    detail: str = ""  #: e.g. the pause reason ("lunch")

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step.value,
            "code": self.code,
            "text": self.text,
            "agent": self.agent,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Where one call goes: the ordered targets, the matched customer and the reasons."""

    caller: str
    did: str
    team: str  #: the team the DID selected ("" = every agent)
    rule: str | None  #: the DID rule that matched, None for the default
    customer: CustomerInfo | None
    targets: tuple[Target, ...]
    reasons: tuple[Reason, ...] = ()
    decided_at: float = 0.0
    degraded: bool = False  #: the customer lookup failed or was too slow: routed as unknown
    closed: bool = False  #: the line was outside its business hours: the after-hours rule ran
    closed_reason: str = ""  #: e.g. "closed: New Year holiday (opens Mon 09:00)"
    announcement: str = ""  #: the sound the dialplan plays to a closed line's caller

    @property
    def summary(self) -> str:
        if self.targets:
            return self.targets[0].reason
        return self.closed_reason or "no target"

    def to_json(self) -> dict[str, Any]:
        return {
            "caller": self.caller,
            "did": self.did,
            "team": self.team,
            "rule": self.rule,
            "customer": self.customer.to_json() if self.customer else None,
            "targets": [t.to_json() for t in self.targets],
            "reasons": [r.to_json() for r in self.reasons],
            "decided_at": iso(self.decided_at),
            "degraded": self.degraded,
            "closed": self.closed,
            "closed_reason": self.closed_reason,
            "announcement": self.announcement,
        }
