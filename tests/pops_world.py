"""A whole `cti serve` on SQLite with the demo directory, the PBX simulator, users with tokens:
for the screen-pop tests over real websockets and in the browser."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from cti.ami.simulator import PbxSimulator
from cti.app import Components, build, create_server_app
from cti.auth.passwords import fast_passwords
from cti.auth.principal import Role, Scope
from cti.auth.service import AuthService
from cti.auth.sql import SqlAuthStore
from cti.config import Settings
from cti.db.directory import DEMO_AGENTS, seed_demo
from cti.db.migrate import upgrade
from cti.db.session import create_engine, session_factory

SECRET = "sim-secret"
PASSWORD = "a password for the console"
SCHEMAS = Path(__file__).resolve().parents[1] / "schemas" / "ws"
#: a demo customer (cti.db.directory): VIP, account manager 101, one order-less card
KNOWN = "+79161234567"
KNOWN_NAME = "Иван Сергеевич Кузнецов"


@lru_cache(maxsize=1)
def _registry() -> Registry:  # type: ignore[type-arg]
    resources = []
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


@lru_cache(maxsize=64)
def _validator(kind: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{kind}.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=_registry(), format_checker=FormatChecker())


def schema_errors(message: dict[str, Any]) -> list[str]:
    """Why `message` does not match schemas/ws/<its type>.json (empty: it does)."""
    kind = message.get("type")
    if not isinstance(kind, str) or not (SCHEMAS / f"{kind}.json").exists():
        return [f"no schema for message type {kind!r}"]
    return [
        f"{kind}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in _validator(kind).iter_errors(message)
    ]


@dataclass
class Feed:
    """One websocket client: every message it got, checked against its schema."""

    ws: aiohttp.ClientWebSocketResponse
    messages: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)  #: schema violations (checked at the end)
    closed: bool = False

    async def pump(self) -> None:
        async for msg in self.ws:
            if msg.type is WSMsgType.TEXT:
                message = json.loads(msg.data)
                self.invalid += schema_errors(message)
                self.messages.append(message)
        self.closed = True

    def of(self, kind: str, linkedid: str | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages
            if m["type"] == kind and (linkedid is None or _linkedid(m) == linkedid)
        ]

    def pop(self, linkedid: str) -> dict[str, Any] | None:
        """The latest view of the pop for this call (ringing, transferred, then updated)."""
        views = [
            m["pop"]
            for m in self.messages
            if m["type"] in ("call.ringing", "call.transferred", "pop.updated")
            and m.get("linkedid") == linkedid
            and "pop" in m
        ]
        return views[-1] if views else None

    def pop_ended(self, linkedid: str) -> bool:
        """The agent's own call.ended for the call (their pop's end) has arrived."""
        return any("agent" in m for m in self.of("call.ended", linkedid))

    def complete_pop(self, linkedid: str) -> bool:
        found = self.pop(linkedid)
        return found is not None and found["complete"]

    @property
    def last_seq(self) -> int:
        return self.messages[-1]["seq"] if self.messages else 0


def _linkedid(message: dict[str, Any]) -> str | None:
    if "linkedid" in message:
        return message["linkedid"]
    call = message.get("call")
    return call.get("linkedid") if isinstance(call, dict) else None


@dataclass
class World:
    sim: PbxSimulator
    c: Components
    url: str
    tokens: dict[str, str]
    session: aiohttp.ClientSession
    feeds: list[tuple[Feed, asyncio.Task[None]]] = field(default_factory=list)

    async def feed(self, login: str, **params: Any) -> Feed:
        ws = await self.session.ws_connect(
            f"{self.url}/ws",
            headers={"Authorization": f"Bearer {self.tokens[login]}"},
            params={k: str(v) for k, v in params.items()},
        )
        feed = Feed(ws)
        task = asyncio.get_running_loop().create_task(feed.pump())
        self.feeds.append((feed, task))
        await until(lambda: bool(feed.messages))
        return feed

    def bearer(self, login: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[login]}"}

    async def settle(self) -> None:
        """Until the tracker and the pops have caught up with every played event."""
        await until(lambda: self.c.service.backlog == 0)
        assert self.c.feed is not None
        await self.c.feed.pops.drain()
        await asyncio.sleep(0.05)


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def add_people(database_url: str) -> dict[str, str]:
    """The demo agents (101, 102, 103, 199) and a supervisor `boss`; a read+write token each."""
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        await seed_demo(sessions)
        auth = AuthService(store=SqlAuthStore(session_factory=sessions), passwords=fast_passwords())
        tokens = {}
        people = [(a.login, Role(a.role)) for a in DEMO_AGENTS] + [("boss", Role.SUPERVISOR)]
        for login, role in people:
            await auth.add_user(login, role=role, password=PASSWORD)
            _, tokens[login] = await auth.create_token(
                login, scopes=frozenset({Scope.READ, Scope.WRITE})
            )
    finally:
        await engine.dispose()
    return tokens


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, *, speed: float = 10.0, http_port: int = 0, **settings: Any
) -> AsyncIterator[World]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'cti.db'}"
    await upgrade(database_url)
    tokens = await add_people(database_url)
    async with PbxSimulator(secret=SECRET, speed=speed) as sim:
        config = Settings(
            database_url=database_url,
            ami_port=sim.port,
            ami_secret=SECRET,
            ami_reconnect_min=0.05,
            ami_reconnect_max=0.2,
            agi_port=0,
            **settings,
        )
        components = build(config)
        runner = web.AppRunner(create_server_app(components))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", http_port)
        await site.start()
        host, port = runner.addresses[0][:2]
        async with aiohttp.ClientSession() as session:
            world = World(sim, components, f"http://{host}:{port}", tokens, session)
            try:
                await until(lambda: components.ami.connected)
                # warmed up as a running server is: the caller lookup has the customers in memory
                await until(lambda: components.callers is None or components.callers.ready)
                await sim.wait_for_listener()
                yield world
            finally:
                for feed, task in world.feeds:
                    await feed.ws.close()
                    task.cancel()
                await runner.cleanup()
            # every message any test received matched its schema in schemas/ws
            assert [e for feed, _ in world.feeds for e in feed.invalid] == []


__all__ = ["KNOWN", "KNOWN_NAME", "PASSWORD", "Feed", "World", "running", "schema_errors", "until"]
