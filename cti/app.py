"""Composition root: builds every service from the settings, runs them, stops them in order."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.ami.connection import AmiClient
from cti.ami.events import AmiEvent
from cti.auth.service import AuthService
from cti.auth.setup import auth_service, housekeeping
from cti.bus import InProcessBus
from cti.calls.endpoints import TrackingRules
from cti.calls.service import CallService
from cti.calls.tracker import CallTracker
from cti.cluster import consumer
from cti.cluster.probes import Probes
from cti.config import Settings, SettingsError
from cti.customers.access import CustomerPolicy
from cti.customers.directory import CallerDirectory
from cti.customers.service import AgentService, CustomerService, DirectoryServices
from cti.db import directory
from cti.db.calls import CallRepository
from cti.db.session import create_engine, postgres_timeouts, session_factory
from cti.health import health, samples
from cti.metrics import CallOutcomes, exposition, process_registry
from cti.missed.book import (
    CallbackBook,
    CallbackPolicy,
    ContextSource,
    directory_context,
)
from cti.missed.callbacks import Callbacks
from cti.missed.model import CallbackWindow
from cti.pops.setup import Feed, both, feed_for_server
from cti.routing.fastagi import FastAgiServer
from cti.routing.model import AgentState
from cti.routing.rules import RuleError, parse_rules
from cti.routing.service import RoutingService
from cti.routing.setup import build_routing, matcher_lookup
from cti.webhooks.service import WebhookService
from cti.webhooks.setup import Webhooks, webhooks_for_server

log = logging.getLogger(__name__)


def tracking_rules(settings: Settings) -> TrackingRules:
    return TrackingRules(
        trunk_endpoints=settings.trunk_endpoints,
        agent_endpoints=settings.agent_endpoints,
        did_variables=settings.did_variables,
        short_abandon_seconds=settings.short_abandon_seconds,
        default_region=settings.default_region,
    )


@dataclass
class Components:
    """Everything one `cti serve` process is made of."""

    settings: Settings
    engine: Any
    repository: CallRepository
    bus: InProcessBus
    service: CallService
    ami: AmiClient
    started_at: float
    callbacks: Callbacks
    routing: RoutingService | None = None
    agi: FastAgiServer | None = None
    auth: AuthService | None = None  #: set by create_server_app
    feed: Feed | None = None  #: /ws: screen-pops, live calls, resume, fan-out
    callers: CallerDirectory | None = None  #: the caller lookup (customers in memory)
    webhooks: Webhooks | None = None  #: subscriptions, outbox, sender
    probes: Probes | None = None  #: database and Redis reachable (readiness)

    async def close(self) -> None:
        if self.probes is not None:
            await self.probes.close()
        await self.engine.dispose()


def callback_policy(settings: Settings) -> CallbackPolicy:
    start, end = settings.callback_hours()
    return CallbackPolicy(
        sla=timedelta(minutes=settings.callback_sla_minutes),
        window=CallbackWindow(start, end),
        hold=timedelta(minutes=settings.callback_hold_minutes),
    )


def customer_policy(settings: Settings) -> CustomerPolicy:
    """Who may see and change which customer (agents_see, agent_customer_fields)."""
    try:
        return CustomerPolicy.from_settings(
            agents_see=settings.agents_see, agent_fields=settings.agent_customer_fields
        )
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def miss_context(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    routing: Callable[[], RoutingService | None] = lambda: None,
) -> ContextSource:
    """Who owns a miss and in which time zone: the customer's manager from the directory, their
    state and the duty operator from routing (when this process routes; `cti replay --store`
    has no live states: the manager counts as available and there is no duty operator)."""

    async def find(e164: str) -> dict[str, Any] | None:
        return await directory.find_customer_by_e164(sessions, e164)

    async def manager_available(login: str, at: datetime) -> bool:
        service = routing()
        if service is None:
            return True
        presence = service.presence.get(login)
        state = presence.state if presence is not None else service.options.default_state
        return state is AgentState.AVAILABLE  # on a call still counts: they can call back after

    async def duty_at(at: datetime) -> str | None:
        service = routing()
        if service is None:
            return None
        on_duty = [shift.login for shift, _ in service.on_duty(at.timestamp()) if shift.login]
        return on_duty[0] if on_duty else None

    return directory_context(
        find_customer=find,
        office_timezone=settings.timezone,
        default_owner=settings.callback_default_owner or None,
        default_region=settings.default_region,
        manager_available=manager_available,
        duty_at=duty_at,
    )


def call_store(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    announce: Callable[[dict[str, Any]], None] | None = None,
    routing: Callable[[], RoutingService | None] = lambda: None,
    webhooks: WebhookService | None = None,
) -> tuple[CallRepository, Callbacks]:
    """Where finished calls go: the calls table, and in the same transaction the missed calls
    and callbacks they make or resolve, and the webhook events they raise (the outbox).
    `cti serve` and `cti replay --store` share it."""
    context = miss_context(settings, sessions, routing)

    def line_opening(did: str, at: datetime) -> datetime | None:
        service = routing()  # routing's calendar: deadlines wait for the line to open
        return at if service is None else service.next_opening(did, at)

    try:
        rules = parse_rules(
            settings.routing_did_rules,
            default_team=settings.routing_default_team,
            region=settings.default_region,
        )
    except RuleError:
        rules = parse_rules((), default_team=settings.routing_default_team)  # routing says why

    def line_team(did: str) -> str:
        service = routing()  # a callback nobody owns goes to the shared list of the DID's team
        found = (service.rules if service is not None else rules).match(did or "")
        return found.team if found is not None else rules.default_team

    policy = dataclasses.replace(
        callback_policy(settings), line_opening=line_opening, line_team=line_team
    )
    book = CallbackBook(context=context, policy=policy)
    hooks = [book.record_calls, *([webhooks.record_calls] if webhooks is not None else [])]
    repository = CallRepository(session_factory=sessions, after_save=hooks, announce=announce)
    resolved = webhooks.callback_resolved if webhooks is not None else None
    return repository, Callbacks(
        session_factory=sessions,
        context=context,
        policy=policy,
        on_resolved=resolved,
        announce=announce,
    )


def live_call(service: CallService, linkedid: str) -> dict[str, Any] | None:
    """The live call as the board shows it (for the call.ringing/answered webhooks)."""
    call = service.tracker.calls.get(linkedid)
    return service.snapshot(call) if call is not None else None


def database_options(settings: Settings) -> dict[str, Any]:
    """Engine options from the settings: PostgreSQL's server-side timeouts (SQLite has none)."""
    if not settings.database_url.startswith("postgresql"):
        return {}
    return {
        "connect_args": postgres_timeouts(
            statement=settings.database_statement_timeout,
            lock=settings.database_lock_timeout,
            idle_in_transaction=settings.database_idle_in_transaction_timeout,
        )
    }


def build(settings: Settings) -> Components:
    engine = create_engine(settings.database_url, **database_options(settings))
    sessions = session_factory(engine)
    bus = InProcessBus()
    webhooks = webhooks_for_server(
        settings,
        sessions,
        snapshot=lambda linkedid: live_call(service, linkedid),
        publishing=lambda: feed.publishing,
    )
    repository, callbacks = call_store(
        settings, sessions, bus.publish, lambda: routing, webhooks.service
    )
    rules = tracking_rules(settings)

    callers = CallerDirectory(engine=engine, region=settings.default_region)
    routing, agi = build_routing(
        settings,
        sessions,
        agent_calls=lambda: service.tracker.agent_calls,
        lookup=matcher_lookup(callers.match),  # type: ignore[arg-type]  # frozen Candidate vs settable protocol attributes
    )
    feed = feed_for_server(
        settings,
        bus=bus,
        service=lambda: service,
        engine=engine,
        sessions=sessions,
        callbacks=callbacks,
        repository=repository,
        routing=routing,
        ami=lambda: ami,
        callers=callers,
    )
    service = CallService(
        tracker=CallTracker(rules=rules),
        store=repository,
        bus=feed.call_bus(bus),
        customer_lookup=callers.for_call,
        on_effect=both(
            routing.on_call_effect,
            feed.pops.on_effect,
            webhooks.live.on_effect if webhooks.live else None,
        ),
        annotate=routing.annotate,
        buffer_limit=settings.call_buffer_limit,
        keeper=feed.handover,
    )
    feed.pops.arrival = lambda: service.arrived
    lease = feed.lease  # with Redis: only its holder consumes AMI's call events
    consuming = lease.valid if lease is not None else lambda: True
    if lease is not None:
        consumer.follow(
            lease,
            service=service,
            ami=lambda: ami,
            before_resync=feed.inherit_pops,
            handover=feed.handover,
        )

    def on_event(event: AmiEvent) -> None:
        # phones' states go to routing, the rest to calls while this process holds the lease
        if not routing.on_ami_event(event) and consuming():
            service.submit(event)

    ami = AmiClient(
        host=settings.ami_host,
        port=settings.ami_port,
        username=settings.ami_username,
        secret=settings.secret(),
        on_event=on_event,
        on_connected=routing.ami_connected,
        variables=(*rules.did_variables, *rules.recording_variables, *rules.out_of_hours_variables),
        status_variables=rules.status_variables,
        ping_interval=settings.ami_ping_interval,
        ping_timeout=settings.ami_ping_timeout,
        connect_timeout=settings.ami_connect_timeout,
        reconnect_min=settings.ami_reconnect_min,
        reconnect_max=settings.ami_reconnect_max,
        max_frame_bytes=settings.ami_max_frame_bytes,
        backlog=lambda: service.backlog,  # a flood pauses reading instead of filling memory
        events=consuming,  # a standby logs in for actions only (click-to-call, device states)
    )
    return Components(
        settings,
        engine,
        repository,
        bus,
        service,
        ami,
        time.time(),
        callbacks,
        routing,
        agi,
        callers=callers,
        feed=feed,
        webhooks=webhooks,
        probes=Probes(engine=engine, redis=feed.redis),
    )


def _tasks(c: Components) -> Callable[[web.Application], AsyncIterator[None]]:
    async def run(app: web.Application) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        routing_tasks = await _start_routing(c)
        if c.feed is not None:
            await c.feed.start()
        if c.probes is not None:
            await c.probes.check()  # /health/ready answers from the first request
        feed_tasks = [
            loop.create_task(work, name=f"cti-feed-{n}")
            for n, work in enumerate(c.feed.tasks() if c.feed is not None else ())
        ]
        tasks = [
            *routing_tasks,
            *feed_tasks,
            *([loop.create_task(c.callers.run(), name="cti-directory")] if c.callers else []),
            *(
                loop.create_task(work, name=name)
                for name, work in (c.webhooks.tasks() if c.webhooks else ())
            ),
            *([loop.create_task(c.probes.run(), name="cti-probes")] if c.probes else []),
            loop.create_task(c.service.consume(), name="cti-events"),
            loop.create_task(c.service.write_forever(), name="cti-writer"),
            loop.create_task(
                c.service.sweep_forever(
                    max_idle=c.settings.call_max_idle,
                    phantom_max_idle=c.settings.phantom_call_max_idle or None,
                ),
                name="cti-sweeper",
            ),
            loop.create_task(escalate_forever(c), name="cti-escalations"),
            loop.create_task(c.ami.run(), name="cti-ami"),
        ]
        for task in tasks:
            task.add_done_callback(_report_crash)
        try:
            yield
        finally:
            tasks[-1].cancel()  # stop reading AMI first, then let the rest catch up
            with contextlib.suppress(asyncio.CancelledError):
                await tasks[-1]
            await c.service.drain()
            await c.service.flush(timeout=5.0)
            if c.webhooks is not None and c.webhooks.live is not None:
                await c.webhooks.live.drain()
            for task in tasks[:-1]:
                task.cancel()
            await asyncio.gather(*tasks[:-1], return_exceptions=True)
            if c.feed is not None:
                await c.feed.close()
            await c.close()

    return run


async def escalate_forever(c: Components, every: float = 15.0) -> None:
    """Callbacks past their deadline escalate to supervisors, once, from stored deadlines;
    holds past their time are let go."""
    while True:
        try:
            for callback in await c.callbacks.escalate_due():
                c.bus.publish({"type": "callback.escalated", "callback": callback})
            await c.callbacks.expire_holds()  # free again for colleagues (announced)
        except Exception:
            log.exception("escalation check failed; retrying in %.0f s", every)
        await asyncio.sleep(every)


async def _start_routing(c: Components) -> list[asyncio.Task[Any]]:
    """Agents, states and the rota into memory, then the tasks that keep them current and the
    FastAGI server (bound here, so a taken port is reported at start, loudly, in the health)."""
    if c.routing is None:
        return []
    try:
        await c.routing.load()
    except Exception as exc:  # routing still answers (duty-less); the refresh task retries
        log.error("routing could not load agents and the rota: %s", exc)
    loop = asyncio.get_running_loop()
    tasks = [
        loop.create_task(c.routing.refresh_forever(), name="cti-routing-refresh"),
        loop.create_task(c.routing.sync_devices_forever(c.ami.action), name="cti-device-states"),
    ]
    if c.settings.shifts_set_state:
        lease = c.feed.lease if c.feed is not None else None
        follow = c.routing.follow_shifts_forever(
            leading=lease.valid if lease is not None else lambda: True
        )
        tasks.append(loop.create_task(follow, name="cti-shift-states"))
    if c.agi is not None:
        try:
            await c.agi.start()
        except OSError as exc:  # the dialplan's fallback rings the duty operator meanwhile
            c.agi.last_error = f"cannot listen on {c.agi.host}:{c.agi.port}: {exc.strerror}"
            log.error("FastAGI %s; free the port or set agi_port", c.agi.last_error)
        else:
            tasks.append(loop.create_task(c.agi.run(), name="cti-fastagi"))
    return tasks


def _report_crash(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("background task %s crashed", task.get_name(), exc_info=task.exception())


def create_server_app(c: Components) -> web.Application:
    from cti.reports.setup import build_reports
    from web import callbacks_api, reports_api, webhooks_api
    from web.app import create_app

    async def recent(limit: int, involving: frozenset[str] | None) -> list[dict[str, Any]]:
        calls = await c.repository.list_calls(limit=limit, newest_first=True, involving=involving)
        return [r.to_json() for r in calls]

    sessions = session_factory(c.engine)
    c.auth = auth_service(c.settings, sessions, redis=c.feed.redis if c.feed else None)
    directory = None
    if c.callers is not None:
        region, office = c.settings.default_region, c.settings.timezone
        directory = DirectoryServices(
            customers=CustomerService(
                sessions=sessions,
                region=region,
                office_timezone=office,
                directory=c.callers,
                policy=customer_policy(c.settings),
                on_saved=c.webhooks.service.customer_saved if c.webhooks is not None else None,
            ),
            agents=AgentService(sessions=sessions, region=region, directory=c.callers),
            callers=c.callers,
        )

    outcomes = CallOutcomes()
    c.bus.listen(outcomes)
    registry = process_registry(lambda: samples(c, outcomes))
    app = create_app(
        settings=c.settings,
        bus=c.bus,
        live_calls=c.feed.live_calls if c.feed is not None else c.service.live_calls,
        recent_calls=recent,
        health=lambda: health(c),
        metrics=lambda: exposition(registry),
        routing=c.routing,
        auth=c.auth,
        directory=directory,
        hub=c.feed.hub if c.feed is not None else None,
        clicktocall=c.feed.clicktocall if c.feed is not None else None,
    )
    callbacks_api.setup(app, callbacks=c.callbacks, default_region=c.settings.default_region)
    reports_api.setup(app, reports=build_reports(c.settings, sessions), callbacks=c.callbacks)
    if c.webhooks is not None:
        webhooks_api.setup(app, webhooks=c.webhooks.service)
    app.cleanup_ctx.append(_tasks(c))
    # after the feed's start (its Redis), before its stop: the access watch ends first
    app.cleanup_ctx.append(housekeeping(c.auth))
    return app


class StartupError(RuntimeError):
    """`cti serve` cannot start as configured; the message says what to change."""


def http_runner(app: web.Application, settings: Settings) -> web.AppRunner:
    """The HTTP runner: a connection silent or half-sent for http_idle_timeout is closed."""
    return web.AppRunner(app, access_log=None, keepalive_timeout=settings.http_idle_timeout)


async def serve(settings: Settings, *, announce: Callable[[str], None] = print) -> None:
    """Run `cti serve` until cancelled; a port it cannot listen on stops it (StartupError)."""
    components = build(settings)
    app = create_server_app(components)
    runner = http_runner(app, settings)
    await runner.setup()
    if components.agi is not None and components.agi.last_error:
        await runner.cleanup()
        raise StartupError(
            f"FastAGI {components.agi.last_error}; free the port, or set agi_port to another "
            "port (0: no FastAGI, for dialplans that route over HTTP)"
        )
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise StartupError(
            f"cannot listen on http://{settings.http_host}:{settings.http_port}/ "
            f"({exc.strerror}); free the port or set http_port"
        ) from None
    announce(f"cti serving on http://{settings.http_host}:{settings.http_port}/")
    if components.agi is not None:
        announce(f"FastAGI routing on agi://{components.agi.host}:{components.agi.port}/route")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # SIGTERM (systemd, a rolling restart) stops as Ctrl-C does: AMI first, then the buffered
    # calls written, then the AMI lease released so that a standby takes it at once
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
