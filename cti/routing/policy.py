"""The routing chain (SPEC, Routing rule), pure: who rings for a call, in order, and why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from cti.routing.availability import Availability, assess
from cti.routing.calendar import BusinessCalendar, LineStatus, line_digits
from cti.routing.model import (
    AgentProfile,
    AgentState,
    CustomerInfo,
    DeviceState,
    Presence,
    Reason,
    RouteDecision,
    Target,
    TargetKind,
)
from cti.routing.rules import DidRules, did_digits
from cti.routing.schedules import DutyShift, duty_logins
from cti.routing.shifts import shift_levels, shift_status
from cti.routing.timetable import TimeRow, closing_row

DEFAULT_TIMEOUTS: Mapping[TargetKind, int] = {
    TargetKind.MANAGER: 20,
    TargetKind.MANAGER_MOBILE: 25,
    TargetKind.VIP_SENIOR: 20,
    TargetKind.DISTRIBUTION: 15,
    TargetKind.DUTY: 30,
    TargetKind.VOICEMAIL: 0,
}


@dataclass(frozen=True)
class RoutingOptions:
    """How the chain is shaped; built once from the settings."""

    timeouts: Mapping[TargetKind, int] = field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))
    follow_me_dial: str = "Local/{digits}@cti-followme"  #: {digits}, {e164}, {number}
    voicemail: str = "100@default"  #: mailbox for VoiceMail(); empty: no voicemail step
    max_agents: int = 3  #: agents offered by the VIP and the distribution steps
    vip_min_seniority: int = 1  #: agents at least this senior serve VIP customers
    default_state: AgentState = AgentState.AVAILABLE  #: of an agent who never set one
    distribute_known: bool = False  #: also distribute known customers whose manager is away
    #: what a closed line does, by line (a DID, a team or *): duty, voicemail, announcement[:SOUND]
    after_hours: Mapping[str, AfterHours] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AfterHours:
    """A closed line's rule: ring the duty operator (then voicemail), voicemail, or play an
    announcement (the dialplan plays `sound` and hangs up)."""

    action: str = "duty"  #: duty, voicemail, announcement
    sound: str = ""

    @classmethod
    def parse(cls, text: str) -> AfterHours:
        action, _, sound = text.strip().partition(":")
        action = action.strip().lower()
        if action not in AFTER_HOURS_ACTIONS:
            raise ValueError(
                f"after-hours rule {text.strip()!r} is not one of duty, voicemail, "
                "announcement[:SOUND]"
            )
        if action == "announcement" and not sound.strip():
            sound = "cti-closed"
        return cls(action, sound.strip() if action == "announcement" else "")


AFTER_HOURS_ACTIONS = ("duty", "voicemail", "announcement")


@dataclass(frozen=True)
class Situation:
    """What is true right now: the directory, presence, phones, calls, rota, offers."""

    agents: Mapping[str, AgentProfile]  #: by login, in directory order
    presence: Mapping[str, Presence] = field(default_factory=dict)  #: by login
    devices: Mapping[str, DeviceState] = field(default_factory=dict)  #: by login
    calls: Mapping[str, int] = field(default_factory=dict)  #: calls in progress, by login
    rota: Sequence[DutyShift] = ()
    last_offered: Mapping[str, float] = field(default_factory=dict)  #: by login
    shifts: Sequence[TimeRow] = ()  #: agents' shifts (cti.routing.shifts)
    calendar: BusinessCalendar | None = None  #: lines' business hours and holidays


def route_call(
    *,
    caller: str,
    did: str,
    customer: CustomerInfo | None,
    situation: Situation,
    rules: DidRules,
    options: RoutingOptions,
    now: datetime,
    degraded: bool = False,
) -> RouteDecision:
    """The chain: DID rule -> manager -> manager's mobile -> VIP seniors -> even distribution
    (unknown callers) -> duty operator on shift -> voicemail. `now` is office-local and aware."""
    phoneless = frozenset(login for login, a in situation.agents.items() if not a.dial)
    if phoneless:  # a supervisor without a phone is never offered a call, nor named in a reason
        situation = replace(
            situation,
            agents={k: a for k, a in situation.agents.items() if k not in phoneless},
        )
    chain = _Chain(situation, options, now, phoneless)
    rule = rules.match(did)
    team = rule.team if rule is not None else rules.default_team
    line = situation.calendar.status(did, team, now) if situation.calendar else None
    if line is not None and not line.open:
        return _after_hours(
            chain, line, caller, did, team, rule.text if rule else None, customer, rules, degraded
        )
    has_manager, desk = _manager_step(chain, customer)
    if customer is not None and customer.vip and not desk:
        _vip_step(chain, customer, team)
    if not desk and not chain.has(TargetKind.VIP_SENIOR):
        # SPEC: unknown callers are distributed; a known customer without a manager is treated
        # alike; one whose manager is away goes to the duty operator unless told otherwise
        if customer is None or not has_manager or options.distribute_known:
            _distribution_step(chain, team)
    _duty_step(chain, duty_logins(situation.rota, now))
    if options.voicemail:
        chain.add(
            TargetKind.VOICEMAIL,
            options.voicemail,
            "voicemail: nobody answered" if chain.targets else "voicemail: nobody is available",
        )
    return RouteDecision(
        caller=caller,
        did=did,
        team=team,
        rule=rule.text if rule is not None else None,
        customer=customer,
        targets=tuple(chain.targets),
        reasons=tuple(chain.reasons),
        decided_at=now.timestamp(),
        degraded=degraded,
    )


def _after_hours(
    chain: _Chain,
    line: LineStatus,
    caller: str,
    did: str,
    team: str,
    rule: str | None,
    customer: CustomerInfo | None,
    rules: DidRules,
    degraded: bool,
) -> RouteDecision:
    """A closed line: its after-hours rule, nobody else; every reason says the line is closed."""
    after = after_hours_rule(chain.options.after_hours, did, team, rules)
    if after.action == "duty":
        _duty_step(chain, duty_logins(chain.s.rota, chain.now), because=line.reason)
    if after.action in ("duty", "voicemail") and chain.options.voicemail:
        chain.add(TargetKind.VOICEMAIL, chain.options.voicemail, f"voicemail: {line.reason}")
    return RouteDecision(
        caller=caller,
        did=did,
        team=team,
        rule=rule,
        customer=customer,
        targets=tuple(chain.targets),
        reasons=tuple(chain.reasons),
        decided_at=chain.now.timestamp(),
        degraded=degraded,
        closed=True,
        closed_reason=line.reason,
        announcement=after.sound,
    )


def after_hours_rule(
    table: Mapping[str, AfterHours], did: str, team: str, rules: DidRules
) -> AfterHours:
    """The rule of the DID, else of its team, else of *, else the duty operator."""
    if did and table:
        digits = did_digits(did, rules.region)
        for line, after in table.items():
            if line_digits(line, rules.region) == digits:
                return after
    return table.get(team) or table.get("*") or AfterHours()


class _Chain:
    """The targets and reasons as the steps add them; an agent is offered once."""

    def __init__(
        self,
        situation: Situation,
        options: RoutingOptions,
        now: datetime,
        phoneless: frozenset[str] = frozenset(),
    ) -> None:
        self.s = situation
        self.phoneless = phoneless  #: logins of people without a phone: passed over in silence
        self.options = options
        self.now = now
        zone: tzinfo | None = now.tzinfo
        self.tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo("UTC")
        self.targets: list[Target] = []
        self.reasons: list[Reason] = []
        self._agents: set[str] = set()
        self._verdicts: dict[str, Availability] = {}

    def availability(self, agent: AgentProfile, *, shifts: bool = True) -> Availability:
        """The agent's verdict now; `shifts=False` for the duty operator (the rota decides)."""
        if not shifts:
            return self._assess(agent)
        verdict = self._verdicts.get(agent.login)
        if verdict is None and self.s.shifts:
            status = shift_status(self.s.shifts, agent, self.now, self.tz)
            if status is not None and not status.on:
                verdict = Availability(False, "off_shift", status.why)
                self._verdicts[agent.login] = verdict
        if verdict is None:
            verdict = self._assess(agent)
            self._verdicts[agent.login] = verdict
        return verdict

    def _assess(self, agent: AgentProfile) -> Availability:
        return assess(
            agent,
            presence=self.s.presence.get(agent.login),
            device=self.s.devices.get(agent.login),
            calls=self.s.calls.get(agent.login, 0),
            default_state=self.options.default_state,
        )

    def on_leave(self, agent: AgentProfile) -> TimeRow | None:
        """A dated `off` row of the agent's for today (vacation, sick day), or None."""
        if not self.s.shifts:
            return None
        levels = shift_levels(self.s.shifts, agent)
        return closing_row(levels, self.now, self.tz) if levels else None

    def has(self, kind: TargetKind) -> bool:
        return any(t.kind is kind for t in self.targets)

    def offered(self, login: str) -> bool:
        return login in self._agents

    def add(self, kind: TargetKind, dial: str, reason: str, agent: str | None = None) -> None:
        timeout = self.options.timeouts.get(kind, DEFAULT_TIMEOUTS[kind])
        self.targets.append(Target(dial, timeout, kind, reason, agent))
        self.reasons.append(Reason(kind, "chosen", reason, agent))
        if agent is not None:
            self._agents.add(agent)

    def skip(
        self, kind: TargetKind, code: str, text: str, agent: str | None = None, detail: str = ""
    ) -> None:
        self.reasons.append(Reason(kind, code, text, agent, detail))

    def first_skip(self) -> str:
        return next((r.text for r in self.reasons if r.code != "chosen"), "")

    def ranked(self, agents: list[AgentProfile]) -> list[AgentProfile]:
        """Least recently offered first (never offered before all); then by login."""
        last = self.s.last_offered
        return sorted(agents, key=lambda a: (last.get(a.login, float("-inf")), a.login))


def _manager_step(chain: _Chain, customer: CustomerInfo | None) -> tuple[bool, bool]:
    """Known customer: the responsible manager, then their mobile.

    Returns (the customer has a manager who is an agent, the manager's desk phone rings)."""
    if customer is None or not customer.manager_login:
        return False, False
    if customer.manager_login in chain.phoneless:
        return False, False
    manager = chain.s.agents.get(customer.manager_login)
    if manager is None:
        chain.skip(
            TargetKind.MANAGER,
            "unknown_agent",
            f"account manager {customer.manager_login!r} of {customer.label} is not an agent",
            customer.manager_login,
        )
        return False, False
    verdict = chain.availability(manager)
    if verdict.available:
        chain.add(
            TargetKind.MANAGER, manager.dial, f"account manager of {customer.label}", manager.login
        )
    else:
        chain.skip(
            TargetKind.MANAGER,
            verdict.code,
            f"account manager {verdict.why}",
            manager.login,
            verdict.detail,
        )
    if manager.mobile:
        if verdict.follow_me:
            chain.add(
                TargetKind.MANAGER_MOBILE,
                follow_me(chain.options.follow_me_dial, manager.mobile),
                f"mobile of {manager.label}, account manager of {customer.label}",
                manager.login,
            )
        else:
            chain.skip(
                TargetKind.MANAGER_MOBILE,
                verdict.code,
                f"no follow-me: {verdict.why}",
                manager.login,
                verdict.detail,
            )
    return True, verdict.available


def _vip_step(chain: _Chain, customer: CustomerInfo, team: str) -> None:
    candidates = [
        a
        for a in _team(chain, team)
        if a.seniority >= chain.options.vip_min_seniority and not chain.offered(a.login)
    ]
    available = [a for a in candidates if chain.availability(a).available]
    last = chain.s.last_offered
    available.sort(key=lambda a: (-a.seniority, last.get(a.login, float("-inf")), a.login))
    for agent in available[: chain.options.max_agents]:
        chain.add(
            TargetKind.VIP_SENIOR,
            agent.dial,
            f"senior agent for VIP customer {customer.label}",
            agent.login,
        )
    if not available:
        chain.skip(
            TargetKind.VIP_SENIOR,
            "none_available",
            "no senior agent is available" if candidates else "the team has no senior agents",
        )


def _distribution_step(chain: _Chain, team: str) -> None:
    members = [a for a in _team(chain, team) if not chain.offered(a.login)]
    available = [a for a in members if chain.availability(a).available]
    where = f"team {team}" if team else "all agents"
    for agent in chain.ranked(available)[: chain.options.max_agents]:
        chain.add(
            TargetKind.DISTRIBUTION,
            agent.dial,
            f"next available agent of {where} (least recently offered)",
            agent.login,
        )
    if not available:
        text = f"nobody in {where} is available" if members else f"{where}: no agents"
        off = [a.label for a in members if chain.availability(a).code == "off_shift"]
        if off and len(off) == len(members):
            text = f"nobody in {where} is on shift"
        elif off:
            text += f" ({', '.join(off[:3])}{'...' if len(off) > 3 else ''} off shift)"
        chain.skip(TargetKind.DISTRIBUTION, "none_available", text)


def _duty_step(chain: _Chain, logins: Sequence[str], because: str | None = None) -> None:
    """The duty rota is the duty operator's shift: only a vacation or sick day keeps them off."""
    if not logins:
        chain.skip(TargetKind.DUTY, "none_on_duty", "nobody is on duty now")
        return
    if because is None:
        because = chain.first_skip()
    for login in logins:
        agent = chain.s.agents.get(login)
        if login in chain.phoneless:
            continue
        if agent is None:
            chain.skip(
                TargetKind.DUTY, "unknown_agent", f"duty operator {login!r} is not an agent", login
            )
            continue
        if chain.offered(login):
            continue  # already rung earlier in the chain
        leave = chain.on_leave(agent)
        if leave is not None:
            why = f"duty operator {agent.label} is off shift" + (
                f" ({leave.label})" if leave.label else ""
            )
            chain.skip(TargetKind.DUTY, "off_shift", why, login, leave.label)
            continue
        verdict = chain.availability(agent, shifts=False)
        if not verdict.available:
            chain.skip(
                TargetKind.DUTY, verdict.code, f"duty operator {verdict.why}", login, verdict.detail
            )
            continue
        text = f"duty operator {agent.label}" + (f": {because}" if because else "")
        chain.add(TargetKind.DUTY, agent.dial, text, login)


def _team(chain: _Chain, team: str) -> list[AgentProfile]:
    agents = chain.s.agents.values()
    return [a for a in agents if team in a.teams] if team else list(agents)


def follow_me(template: str, mobile: str) -> str:
    """The dial string of a mobile: `{digits}` (E.164 without +), `{e164}`, `{number}`."""
    digits = "".join(ch for ch in mobile if ch.isdigit())
    e164 = "+" + digits if mobile.strip().startswith("+") else mobile.strip()
    return template.format(digits=digits, e164=e164, number=mobile.strip())
