"""Routing built from the settings: options, DID rules, the caller lookup, the FastAGI server."""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.calls.model import Call
from cti.config import Settings, SettingsError
from cti.customers.numbers import normalize
from cti.db import directory
from cti.db.calendars import CalendarRepository
from cti.db.routing import RoutingRepository
from cti.metrics import Sample
from cti.routing.dialplan import agi_route
from cti.routing.fastagi import DEFAULT_SOURCES, FastAgiServer
from cti.routing.model import AgentState, CustomerInfo, TargetKind
from cti.routing.policy import DEFAULT_TIMEOUTS, AfterHours, RoutingOptions
from cti.routing.rules import DidRules, RuleError, parse_rules
from cti.routing.service import CustomerLookup, RoutingService

log = logging.getLogger(__name__)


class RoutingSetupError(SettingsError):
    """A routing setting that cannot be used; the message names it."""


def routing_options(settings: Settings) -> RoutingOptions:
    """The chain's shape from the settings."""
    timeouts = dict(DEFAULT_TIMEOUTS)
    for entry in settings.routing_ring_timeouts:
        name, sep, seconds = entry.partition("=")
        try:
            timeouts[TargetKind(name.strip())] = int(seconds)
        except ValueError:
            raise RoutingSetupError(
                f"routing_ring_timeouts entry {entry!r} is not KIND=SECONDS with KIND one of "
                f"{', '.join(k.value for k in TargetKind)}"
            ) from None
    try:
        default_state = AgentState(settings.routing_default_state.strip().lower())
    except ValueError:
        raise RoutingSetupError(
            f"routing_default_state={settings.routing_default_state!r} is not one of "
            f"{', '.join(s.value for s in AgentState)}"
        ) from None
    after_hours: dict[str, AfterHours] = {}
    for entry in settings.routing_after_hours:
        line, sep, rule = entry.partition("=")
        try:
            if not sep or not line.strip():
                raise ValueError("not LINE=RULE")
            after_hours[line.strip()] = AfterHours.parse(rule)
        except ValueError as exc:
            raise RoutingSetupError(
                f"routing_after_hours entry {entry!r}: {exc}; write LINE=RULE with LINE a DID, "
                "a team or *, RULE duty, voicemail or announcement[:SOUND]"
            ) from None
    return RoutingOptions(
        after_hours=after_hours,
        timeouts=timeouts,
        follow_me_dial=settings.routing_follow_me_dial,
        voicemail=settings.routing_voicemail.strip(),
        max_agents=max(1, settings.routing_max_agents),
        vip_min_seniority=settings.routing_vip_min_seniority,
        default_state=default_state,
        distribute_known=settings.routing_distribute_known,
    )


def routing_rules(settings: Settings) -> DidRules:
    try:
        return parse_rules(
            settings.routing_did_rules,
            default_team=settings.routing_default_team,
            region=settings.default_region,
        )
    except RuleError as exc:
        raise RoutingSetupError(f"routing_did_rules: {exc}") from None


def customer_lookup(sessions: async_sessionmaker[AsyncSession], region: str) -> CustomerLookup:
    """The caller ID to the customer routing needs, from the customer directory."""

    async def lookup(caller: str) -> CustomerInfo | None:
        e164 = normalize(caller, region).e164
        if not e164:
            return None
        found = await directory.find_customer_by_e164(sessions, e164)
        if found is None:
            return None
        return CustomerInfo(
            id=str(found["customer_id"]),
            name=found.get("name") or "",
            company=found.get("company") or "",
            vip=bool(found.get("vip")),
            manager_login=found.get("manager_login") or None,
        )

    return lookup


class _Candidate(Protocol):
    customer_id: int
    name: str
    company: str
    vip: bool
    manager_login: str | None


class _Match(Protocol):
    @property
    def customer(self) -> _Candidate | None: ...


def matcher_lookup(match: Callable[[str], Awaitable[_Match]]) -> CustomerLookup:
    """Routing's lookup over the customer directory's matcher (`CallerDirectory.match`, or
    `match_in_database` for one-shot commands): the matched customer as routing needs it."""

    async def lookup(caller: str) -> CustomerInfo | None:
        c = (await match(caller)).customer
        if c is None:
            return None
        return CustomerInfo(
            id=str(c.customer_id),
            name=c.name or "",
            company=c.company or "",
            vip=bool(c.vip),
            manager_login=c.manager_login or None,
        )

    return lookup


def build_routing(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    *,
    live_calls: Callable[[], Iterable[Call]] = tuple,
    agent_calls: Callable[[], Mapping[str, Collection[str]]] | None = None,
    lookup: CustomerLookup | None = None,
) -> tuple[RoutingService, FastAgiServer | None]:
    """The routing service and, unless agi_port is 0, the FastAGI server that serves it."""
    routing = RoutingService(
        store=RoutingRepository(session_factory=sessions),
        lookup=lookup or customer_lookup(sessions, settings.default_region),
        rules=routing_rules(settings),
        options=routing_options(settings),
        timezone=settings.timezone,
        live_calls=live_calls,
        agent_calls=agent_calls,
        lookup_timeout=settings.routing_lookup_timeout,
        refresh_seconds=settings.routing_refresh_seconds,
        calendars=CalendarRepository(session_factory=sessions),
    )
    agi = None
    if settings.agi_port:
        agi = FastAgiServer(
            routes={"route": agi_route(routing.decide)},
            host=settings.agi_host,
            port=settings.agi_port,
            max_sessions=settings.agi_max_sessions,
            allowed_sources=agi_sources(settings),
        )
    return routing, agi


def agi_sources(settings: Settings) -> tuple[str, ...]:
    """agi_allowed_sources, or by default loopback and the AMI host's addresses."""
    if settings.agi_allowed_sources:
        for source in settings.agi_allowed_sources:
            try:
                ipaddress.ip_network(source, strict=False)
            except ValueError:
                raise RoutingSetupError(
                    f"agi_allowed_sources: {source!r} is not an address or network "
                    "(write 192.0.2.10 or 10.0.0.0/24)"
                ) from None
        return tuple(settings.agi_allowed_sources)
    sources = list(DEFAULT_SOURCES)
    try:
        sources.append(str(ipaddress.ip_address(settings.ami_host)))
    except ValueError:
        try:
            infos = socket.getaddrinfo(settings.ami_host, None, type=socket.SOCK_STREAM)
        except OSError as exc:
            log.warning("FastAGI: cannot resolve ami_host %r (%s)", settings.ami_host, exc)
            infos = []
        sources.extend(str(info[4][0]) for info in infos)
    return tuple(dict.fromkeys(sources))


def routing_samples(routing: RoutingService | None, agi: FastAgiServer | None) -> list[Sample]:
    """Routing's counters for /metrics."""
    samples: list[Sample] = []
    if routing is not None:
        s = routing.stats
        samples += [
            ("cti_routing_decisions_total", "counter", "routing decisions made", s.decisions),
            (
                "cti_routing_degraded_total",
                "counter",
                "decisions made without the caller lookup (failed or too slow)",
                s.degraded,
            ),
            (
                "cti_routing_annotated_total",
                "counter",
                "finished calls that got the routing step that reached them",
                s.annotated,
            ),
            (
                "cti_routing_refresh_errors_total",
                "counter",
                "failed reloads of agents, states and the rota",
                s.refresh_errors,
            ),
        ]
    if agi is not None:
        samples += [
            ("cti_fastagi_listening", "gauge", "1 when the FastAGI server listens", agi.listening),
            ("cti_fastagi_sessions_total", "counter", "FastAGI sessions", agi.stats.sessions),
            (
                "cti_fastagi_errors_total",
                "counter",
                "FastAGI sessions that ended before every variable was set",
                agi.stats.errors,
            ),
        ]
    return samples
