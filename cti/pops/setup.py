"""The feed built from the settings: journal (memory or Redis Streams), hub, fan-out and lease
(with `redis_url`), the pop service and the agents it names, click-to-call."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from cti.ami.connection import AmiNotConnected
from cti.calls.clicktocall import ClickToCall, KeyStore, MemoryKeys, RedisKeys
from cti.calls.model import Call
from cti.cluster.handover import Handover
from cti.cluster.lease import AmiLease
from cti.cluster.mirror import ClusterMirror
from cti.config import Settings
from cti.pops.cards import CardSource
from cti.pops.fanout import RedisFanout
from cti.pops.hub import FeedHub
from cti.pops.journal import MemoryJournal, RedisJournal
from cti.pops.publisher import FeedPublisher
from cti.pops.publisher import listener as state_listener
from cti.pops.service import AgentBook, PopService, RouteSource, agent_rows

log = logging.getLogger(__name__)


class People(Protocol):
    """The directory's people (`cti.auth.store.AuthStore.people`)."""

    async def people(self) -> list[Any]: ...


class Bus(Protocol):
    def publish(self, message: dict[str, Any]) -> None: ...

    def listen(self, callback: Callable[[dict[str, Any]], None]) -> Callable[[], None]: ...


class RoutingPeople:
    """The agents routing already keeps in memory (re-read by it every few seconds): the pops
    name them without reading the directory again."""

    def __init__(self, routing: Any) -> None:
        self._routing = routing

    async def people(self) -> list[Any]:
        return list(self._routing.agents.values())


class LeaderGate:
    """The call events' messages (live calls) pass only while this process holds the lease."""

    def __init__(self, bus: Bus, active: Callable[[], bool]) -> None:
        self._bus = bus
        self._active = active

    def publish(self, message: dict[str, Any]) -> None:
        if self._active():
            self._bus.publish(message)


@dataclass
class Feed:
    """Everything behind /ws and the screen-pops, for one process."""

    hub: FeedHub
    publisher: FeedPublisher
    pops: PopService
    agents: AgentBook
    people: People | None = None
    redis: Any = None
    fanout: RedisFanout | None = None
    lease: AmiLease | None = None  #: who consumes AMI (with Redis)
    refresh_every: float = 5.0
    clicktocall: ClickToCall | None = None
    #: with Redis: the live calls for a standby's websockets, agents' states set elsewhere
    mirror: ClusterMirror | None = None
    #: with Redis: the consumer's live and unsaved finished calls, for the next consumer
    handover: Handover | None = None
    #: the live calls this process shows (its own as AMI consumer, else the mirror's)
    live_calls: Callable[[], list[dict[str, Any]]] = list
    #: the consumer's live calls one at a time, for the mirror's pages (None: `live_calls`)
    each_live_call: Callable[[], Iterable[dict[str, Any]]] | None = None
    #: true once what the process keeps for good is loaded (the caller lookup's customers)
    settled: Callable[[], bool] | None = None
    _unlisten: list[Callable[[], None]] = field(default_factory=list)

    @property
    def publishing(self) -> bool:
        """Whether this process turns call events into messages now."""
        return self.lease.is_leader if self.lease is not None else True

    def call_bus(self, bus: Bus) -> Bus | LeaderGate:
        """The bus CallService publishes live calls to (gated by the lease with Redis)."""
        return bus if self.lease is None else LeaderGate(bus, lambda: self.publishing)

    async def inherit_pops(self) -> None:
        """Before the resync of a takeover: the pops the former AMI consumer opened."""
        journal = self.hub.journal
        if isinstance(journal, RedisJournal):
            self.pops.inherit(await journal.open_pops(list(self.agents.by_login)))

    async def load_agents(self) -> None:
        if self.people is not None:
            self.agents.set(agent_rows(await self.people.people()))

    async def start(self) -> None:
        """Before serving: the agents, the journal's stream id and the lease (Redis)."""
        try:
            await self.load_agents()
        except Exception as exc:  # the refresh task retries
            log.error("the feed could not load the agents: %s", exc)
        if self.redis is not None:
            journal = self.hub.journal
            if isinstance(journal, RedisJournal) and not journal.stream_id:
                await journal.start()
            if self.lease is not None:
                await self.lease.step()

    def tasks(self) -> list[Coroutine[Any, Any, None]]:
        """The background work the application owns (names in `TASK_NAMES` order)."""
        work: list[Coroutine[Any, Any, None]] = [
            self._refresh_forever(),
            self.hub.housekeeping(),
            self._settle_heap(),
        ]
        if not self.hub.journal.synchronous:
            work.append(self.hub.write_forever())
        if self.fanout is not None:
            work.append(self.fanout.run())
        if self.lease is not None:
            work.append(self.lease.run())
        if self.mirror is not None:
            work.append(self.mirror.publish_forever(self.each_live_call or self.live_calls))
        if self.handover is not None:
            work.append(self.handover.write_forever())
        return work

    async def _settle_heap(self) -> None:
        """Once the long-lived data is loaded, keep the garbage collector off it (gc.freeze):
        a full collection otherwise walks every customer of the caller lookup and every module,
        pausing the event loop, and the pops with it, for hundreds of milliseconds. Frozen
        objects are still freed when no longer referenced; only cycles among them would stay."""
        while self.settled is not None and not self.settled():  # noqa: ASYNC110 - a poll of
            await asyncio.sleep(0.5)  # the caller lookup's state: it has no event to wait on
        gc.collect()
        gc.freeze()
        log.info("%d long-lived objects kept out of the garbage collector", gc.get_freeze_count())

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_every)
            try:
                await self.load_agents()
            except Exception as exc:
                log.warning("the feed could not reload the agents (%s); using the last", exc)

    async def close(self) -> None:
        await self.pops.drain()
        if self.handover is not None:  # the calls stored just now leave the handover
            with contextlib.suppress(Exception):
                await self.handover.write()
        if self.lease is not None:
            await self.lease.release()
        if self.redis is not None:
            await self.redis.aclose()

    def health(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "connections": self.hub.connections,
            "publishing": self.publishing,
        }
        if self.fanout is not None:
            report["redis"] = {
                "connected": self.fanout.connected,
                "error": self.fanout.last_error or None,
                "backlog": self.fanout.backlog,
            }
        return report


def build_feed(
    settings: Settings,
    *,
    bus: Bus,
    live_calls: Callable[[], list[dict[str, Any]]],
    call_of: Callable[[str], Call | None],
    each_live_call: Callable[[], Iterable[dict[str, Any]]] | None = None,
    direction: Callable[[Call], str | None],
    people: People | None = None,
    cards: CardSource | None = None,
    routing: RouteSource | None = None,
    send_action: Callable[[Any], Awaitable[Any]] | None = None,
    ami_connected: Callable[[], bool] = lambda: True,
    redis: Any = None,
    lease_floor: Callable[[], Awaitable[int]] | None = None,
    epoch: Callable[[], int | None] | None = None,
) -> Feed:
    """The feed for `cti serve`: in memory, or shared through Redis when `redis_url` is set
    (then with the AMI consumer lease; `lease_floor`: the newest epoch the database saw)."""
    node_id = uuid.uuid4().hex[:8]
    if settings.redis_url and redis is None:
        import redis.asyncio as aioredis

        redis = aioredis.Redis.from_url(settings.redis_url)
    journal: MemoryJournal | RedisJournal
    prefix = settings.redis_prefix
    if redis is not None:
        journal = RedisJournal(
            redis=redis,
            prefix=f"{prefix}feed:",
            limit=settings.ws_resume_messages,
            max_age=settings.ws_resume_seconds,
        )
    else:
        journal = MemoryJournal(
            limit=settings.ws_resume_messages, max_age=settings.ws_resume_seconds
        )
    fanout: RedisFanout | None = None
    lease: AmiLease | None = None
    mirror: ClusterMirror | None = None
    shown = live_calls
    if redis is not None:
        mirror = ClusterMirror(
            publish=lambda message: fanout.publish(message) if fanout is not None else None,
            leader=lambda: lease is not None and lease.valid(),
            routing=routing,
        )
        shown = partial(mirror.live_calls, live_calls)
    hub = FeedHub(
        journal=journal, live_calls=shown, grace=settings.ws_resume_seconds, node_id=node_id
    )
    if redis is not None and mirror is not None:
        fanout = RedisFanout(
            redis=redis,
            node_id=node_id,
            on_message=_both_of(hub.from_fanout, mirror.apply),
            on_connected=hub.hello,
            channel=f"{prefix}feed",
        )
        hub.fanout = fanout
        lease = AmiLease(
            redis=redis,
            node_id=node_id,
            key=f"{prefix}lease",
            ttl=settings.lease_seconds,
            renew_every=settings.lease_renew_seconds,
            floor=lease_floor,
        )
    handover: Handover | None = None
    if redis is not None and lease is not None:
        current = lease
        handover = Handover(
            redis=redis,
            prefix=f"{prefix}handover:",
            # the epoch the finished calls are written under (kept after losing the lease)
            epoch=epoch or (lambda: current.last_epoch),
        )
    publisher = FeedPublisher(bus=bus, pops=hub)
    agents = AgentBook()
    pops = PopService(
        publisher=publisher,
        agents=agents,
        calls=call_of,
        direction=direction,
        cards=cards,
        routing=routing,
        active=(lambda: lease.is_leader) if lease is not None else (lambda: True),
        card_timeout=settings.pop_card_timeout,
    )
    feed = Feed(
        hub=hub,
        publisher=publisher,
        pops=pops,
        agents=agents,
        people=people,
        redis=redis,
        fanout=fanout,
        lease=lease,
        mirror=mirror,
        handover=handover,
        live_calls=shown,
        each_live_call=each_live_call,
    )
    feed._unlisten.append(bus.listen(hub.publish))
    if mirror is not None:
        feed._unlisten.append(bus.listen(mirror.on_bus))
    feed._unlisten.append(bus.listen(pops.on_bus))
    if send_action is not None:
        keys: KeyStore = (
            RedisKeys(redis, prefix=f"{prefix}originate:") if redis is not None else MemoryKeys()
        )
        feed.clicktocall = ClickToCall(
            send=send_action,
            context=settings.originate_context,
            keys=keys,
            connected=ami_connected,
            not_connected=(AmiNotConnected,),
        )
    return feed


def feed_for_server(
    settings: Settings,
    *,
    bus: Bus,
    service: Callable[[], Any],
    engine: Any,
    sessions: Any,
    callbacks: Any,
    repository: Any,
    routing: RouteSource | None,
    ami: Callable[[], Any],
    callers: Any = None,
) -> Feed:
    """The feed of `cti serve`: cards from the customer directory (`callers`, the in-memory
    caller lookup, else the database), the callbacks and the call store; the agents from the
    directory; click-to-call through AMI. `service` and `ami` are called later (they are built
    after the feed, which they are wired to)."""
    from cti.auth.sql import SqlAuthStore
    from cti.calls.outcome import final_direction
    from cti.cluster import fence
    from cti.customers.directory import match_in_database
    from cti.customers.errors import DuplicatePhones
    from cti.customers.service import AUTO_ACTOR, CustomerService, lead_name
    from cti.webhooks.setup import links as webhook_links

    region = settings.default_region

    async def from_database(raw: str) -> Any:  # when no caller lookup is kept in memory
        return await match_in_database(engine, raw, region)

    match = callers.match if callers is not None else from_database
    match_now = callers.match_now if callers is not None else None

    holder: list[Feed] = []
    customers = CustomerService(
        sessions=sessions, region=region, office_timezone=settings.timezone, directory=callers
    )

    async def lead_card(e164: str, name: str) -> int | None:
        """An unknown caller's lead card (source auto), named from the caller ID when it has a
        name; a card made meanwhile for the number (another call, the console) is taken."""
        try:
            created = await customers.create(
                {"name": lead_name(name, e164), "phones": [e164]}, actor=AUTO_ACTOR, source="auto"
            )
        except DuplicatePhones:
            found = await match(e164)
            return found.customer.customer_id if found.customer is not None else None
        return int(created["id"])

    cards = CardSource(
        match=match,
        match_now=match_now,
        revision=(lambda: int(callers.revision)) if callers is not None else None,
        customers=customers,
        auto_create=lead_card if settings.auto_customer_cards else None,
        callbacks=callbacks,
        calls=repository,
        agents=lambda login: holder[0].agents.by_login.get(login),
        colleague=lambda extension: holder[0].agents.by_extension.get(extension),
        links=webhook_links(settings),
    )

    def direction(call: Call) -> str | None:
        return final_direction(call, service().tracker.rules).value

    async def send(fields: Any) -> Any:
        return await ami().action(fields)

    feed = build_feed(
        settings,
        bus=bus,
        live_calls=lambda: service().live_calls(),
        each_live_call=lambda: service().each_live_call(),
        call_of=lambda linkedid: service().tracker.calls.get(linkedid),
        direction=direction,
        people=RoutingPeople(routing)
        if routing is not None
        else SqlAuthStore(session_factory=sessions),
        cards=cards,
        routing=routing,
        send_action=send,
        ami_connected=lambda: bool(ami().connected),
        lease_floor=lambda: fence.newest(sessions),
        epoch=lambda: service().epoch,
    )
    holder.append(feed)
    if callers is not None:
        feed.settled = lambda: bool(callers.ready)
    listeners = getattr(routing, "state_listeners", None)
    if isinstance(listeners, list):  # the agent's console and supervisors see state changes live
        listeners.append(state_listener(feed.publisher))
        if feed.mirror is not None:  # and the other processes' routing applies it at once
            listeners.append(feed.mirror.state_changed)
    return feed


def _both_of(
    first: Callable[[dict[str, Any]], None], second: Callable[[dict[str, Any]], None]
) -> Callable[[dict[str, Any]], None]:
    def call(payload: dict[str, Any]) -> None:
        first(payload)
        second(payload)

    return call


def both(*listeners: Callable[[Any], None] | None) -> Callable[[Any], None]:
    """One effect listener made of several (each guarded by CallService)."""
    chosen = [f for f in listeners if f is not None]

    def call_all(effect: Any) -> None:
        for listener in chosen:
            try:
                listener(effect)
            except Exception:  # one listener's bug must not keep the effect from the others
                log.exception("effect listener %r failed", listener)

    return call_all


__all__ = ["Feed", "LeaderGate", "both", "build_feed", "feed_for_server"]
