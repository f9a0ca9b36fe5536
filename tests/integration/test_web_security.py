"""Who gets in and what they see, over real HTTP and websockets: roles, scopes, Origin, CSRF,
cookies behind proxies, login lockout, websocket limits."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from cti.auth.memory import MemoryAuthStore
from cti.auth.passwords import fast_passwords
from cti.auth.principal import Role, Scope
from cti.auth.service import AuthService
from cti.auth.sessions import SessionPolicy
from cti.auth.store import Person
from cti.auth.throttle import Lockout, LoginThrottle
from cti.bus import InProcessBus
from cti.config import Settings
from web.app import create_app
from web.auth import PUBLIC_PATHS, SESSION_COOKIE
from web.ws import WsLimits

PASSWORD = "a long enough password"


def live(linkedid: str, **changes: Any) -> dict[str, Any]:
    call = {
        "linkedid": linkedid,
        "direction": "inbound",
        "caller": "+79161234567",
        "caller_name": "",
        "did": "74951230000",
        "state": "ringing",
        "agents_ringing": [],
        "answered_by": [],
        "started_at": "2026-11-25T09:00:00.000Z",
        "answered_at": None,
        "customer": None,
    }
    call.update(changes)
    return call


RINGS_101 = live("ring.101", agents_ringing=["101", "102"])
RINGS_103 = live("ring.103", agents_ringing=["103"])
PLACED_BY_101 = live("out.101", direction="outbound", caller="101", state="ringing")


class World:
    """An app with an agent (ext 101), a supervisor, an admin, and recorded list queries."""

    def __init__(self, **settings: Any) -> None:
        self.clock = [1_764_000_000.0]
        self.store = MemoryAuthStore()
        self.auth = AuthService(
            store=self.store,
            passwords=fast_passwords(),
            clock=lambda: self.clock[0],
            sessions=SessionPolicy(cache_seconds=0),
            throttle=LoginThrottle(
                clock=lambda: self.clock[0], per_login=Lockout(free_failures=3, base_delay=60)
            ),
        )
        self.bus = InProcessBus(queue_size=64)
        self.live = [RINGS_101, RINGS_103, PLACED_BY_101]
        self.asked: list[frozenset[str] | None] = []
        self.app = create_app(
            settings=Settings(**settings),
            bus=self.bus,
            live_calls=lambda: list(self.live),
            recent_calls=self._recent,
            health=lambda: {"status": "ok"},
            metrics=lambda: "",
            auth=self.auth,
            ws_limits=WsLimits(
                max_inbound_rate=2, max_inbound_burst=5, max_per_login=3, recheck_every=0.2
            ),
        )

    async def _recent(self, limit: int, involving: frozenset[str] | None) -> list[dict[str, Any]]:
        self.asked.append(involving)
        return []

    async def users(self) -> None:
        await self.auth.add_user("ivanov", role=Role.AGENT, password=PASSWORD)
        self.store.put_person(
            Person(
                login="ivanov", name="Ivanov", role=Role.AGENT, extension="101", device="PJSIP/101"
            )
        )
        await self.auth.add_user("boss", role=Role.SUPERVISOR, password=PASSWORD)
        await self.auth.add_user("root", role=Role.ADMIN, password=PASSWORD)


@pytest.fixture
async def world() -> World:
    w = World()
    await w.users()
    return w


def origin(client: Any) -> str:
    return f"http://{client.host}:{client.port}"


async def signed_in(aiohttp_client: Any, world: World, login: str) -> Any:
    client = await aiohttp_client(world.app)
    resp = await client.post(
        "/login",
        data={"login": login, "password": PASSWORD},
        headers={"Origin": origin(client)},
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    return client


async def drain(ws: Any, timeout: float = 0.3) -> list[dict[str, Any]]:
    out = []
    while True:
        try:
            msg = await ws.receive(timeout=timeout)
        except TimeoutError:
            return out
        if msg.type is not WSMsgType.TEXT:
            return out
        out.append(msg.json())


# --- everything but health and metrics needs authentication -----------------------------------


async def test_every_route_but_the_public_ones_needs_authentication(
    aiohttp_client: Any, world: World
) -> None:
    client = await aiohttp_client(world.app)
    checked = 0
    for resource in world.app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter") or ""
        if "prefix" in info:  # static files: one asset beyond the login page's two
            path = info["prefix"].rstrip("/") + "/live.js"
        path = path.replace("{login}", "ivanov").replace("{id}", "1")
        if path in PUBLIC_PATHS:
            continue
        for route in resource:
            if route.method == "HEAD":
                continue
            resp = await client.request(route.method, path, allow_redirects=False)
            assert resp.status == 401, (route.method, path, resp.status)
            checked += 1
    assert checked >= 5
    assert {"/health/live", "/health/ready", "/metrics"} <= PUBLIC_PATHS


async def test_me_says_who_the_server_takes_you_for(aiohttp_client: Any, world: World) -> None:
    client = await signed_in(aiohttp_client, world, "ivanov")
    me = await (await client.get("/api/me")).json()
    assert me == {
        "login": "ivanov",
        "name": "Ivanov",
        "role": "agent",
        "via": "session",
        "scopes": ["read", "write"],
        "extensions": ["101"],
    }


# --- authorization on the server side ---------------------------------------------------------


async def test_an_agents_feed_has_only_their_calls_whatever_they_send(
    aiohttp_client: Any, world: World
) -> None:
    client = await signed_in(aiohttp_client, world, "ivanov")
    async with client.ws_connect("/ws", headers={"Origin": origin(client)}) as ws:
        snapshot = await ws.receive_json(timeout=5)
        assert sorted(c["linkedid"] for c in snapshot["calls"]) == ["out.101", "ring.101"]
        await ws.send_json(
            {"type": "subscribe", "agent": "boss", "all": True, "extensions": ["103"]}
        )
        world.bus.publish(
            {"type": "call.live", "call": live("ring.103", state="talking", answered_by=["103"])}
        )
        # 102 answers the call that rang 101 too: 101 still sees how it ends
        world.bus.publish(
            {
                "type": "call.live",
                "call": {
                    **RINGS_101,
                    "state": "talking",
                    "agents_ringing": [],
                    "answered_by": ["102"],
                },
            }
        )
        # a pop names its one recipient: petrov's never reaches ivanov, even for a call he is on
        world.bus.publish(
            {"type": "call.ringing", "agent": "petrov", "linkedid": "ring.101", "pop": {}}
        )
        world.bus.publish(
            {"type": "call.ringing", "agent": "ivanov", "linkedid": "ring.101", "pop": {}}
        )
        world.bus.publish(
            {
                "type": "call.ended",
                "call": {**RINGS_101, "agents_rung": ["101", "102"], "answered_by": ["102"]},
            }
        )
        world.bus.publish({"type": "call.ended", "call": {**RINGS_103, "agents_rung": ["103"]}})
        got = await drain(ws)
    assert [(m["type"], m.get("agent") or m["call"]["linkedid"], m["seq"]) for m in got] == [
        ("call.live", "ring.101", 1),
        ("call.ringing", "ivanov", 2),
        ("call.ended", "ring.101", 3),
    ]


async def test_a_supervisor_gets_every_call(aiohttp_client: Any, world: World) -> None:
    client = await signed_in(aiohttp_client, world, "boss")
    async with client.ws_connect("/ws", headers={"Origin": origin(client)}) as ws:
        snapshot = await ws.receive_json(timeout=5)
        assert len(snapshot["calls"]) == 3
        world.bus.publish({"type": "call.live", "call": RINGS_103})
        assert (await ws.receive_json(timeout=5))["call"]["linkedid"] == "ring.103"
    assert (await (await client.get("/api/calls/live")).json())["calls"] == world.live
    await client.get("/api/calls")
    assert world.asked == [None]


async def test_an_agents_lists_are_filtered_by_their_extensions(
    aiohttp_client: Any, world: World
) -> None:
    client = await signed_in(aiohttp_client, world, "ivanov")
    calls = (await (await client.get("/api/calls/live")).json())["calls"]
    assert [c["linkedid"] for c in calls] == ["ring.101", "out.101"]
    assert (await client.get("/api/calls?limit=5")).status == 200
    assert world.asked == [frozenset({"101"})]


# --- tokens and scopes ------------------------------------------------------------------------


async def test_bearer_tokens_carry_their_scopes_and_die_when_revoked(
    aiohttp_client: Any, world: World
) -> None:
    client = await aiohttp_client(world.app)
    record, read_only = await world.auth.create_token("boss", scopes=frozenset({Scope.READ}))
    _, writer = await world.auth.create_token("boss", scopes=frozenset({Scope.READ, Scope.WRITE}))
    bearer = {"Authorization": f"Bearer {read_only}"}
    assert (await client.get("/api/calls/live", headers=bearer)).status == 200
    denied = await client.post("/api/calls/live", headers=bearer)
    assert denied.status == 403 and "'write' scope" in (await denied.json())["detail"]
    allowed = await client.post("/api/calls/live", headers={"Authorization": f"Bearer {writer}"})
    assert allowed.status == 405  # past authorization; the route itself takes only GET
    async with client.ws_connect("/ws", headers=bearer) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
    await world.auth.revoke_token(record.id)
    assert (await client.get("/api/calls/live", headers=bearer)).status == 401
    assert (
        await client.get("/api/calls/live", headers={"Authorization": "Basic Ym9zczp4"})
    ).status == 401


async def test_a_bad_bearer_header_does_not_fall_back_to_the_cookie(
    aiohttp_client: Any, world: World
) -> None:
    client = await signed_in(aiohttp_client, world, "boss")
    resp = await client.get("/api/calls/live", headers={"Authorization": "Bearer forged"})
    assert resp.status == 401


# --- browsers: Origin, CSRF, cookies ----------------------------------------------------------


async def test_cookie_requests_that_change_things_must_come_from_our_pages(
    aiohttp_client: Any, world: World
) -> None:
    client = await signed_in(aiohttp_client, world, "root")
    no_origin = await client.post("/api/calls/live")
    assert no_origin.status == 403 and "page of this site" in (await no_origin.json())["detail"]
    foreign = await client.post("/api/calls/live", headers={"Origin": "https://evil.example"})
    assert foreign.status == 403
    ours = await client.post("/api/calls/live", headers={"Origin": origin(client)})
    assert ours.status == 405


async def test_allowed_origins_let_a_configured_site_open_the_feed(aiohttp_client: Any) -> None:
    world = World(allowed_origins=("https://console.example.com",))
    await world.users()
    client = await signed_in(aiohttp_client, world, "boss")
    async with client.ws_connect("/ws", headers={"Origin": "https://console.example.com"}) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
    for hostile in (
        "https://console.example.com.evil.example",
        "http://console.example.com",
        "null",
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await client.ws_connect("/ws", headers={"Origin": hostile})
        assert caught.value.status == 403, hostile


@pytest.mark.parametrize(
    ("settings", "headers", "secure"),
    [
        ({}, {}, False),
        ({}, {"X-Forwarded-Proto": "https"}, True),  # the test client is 127.0.0.1: a trusted proxy
        (
            {"trusted_proxies": ()},
            {"X-Forwarded-Proto": "https"},
            False,
        ),  # anyone can send that header
        ({"cookie_secure": "true"}, {}, True),
        ({"cookie_secure": "false"}, {"X-Forwarded-Proto": "https"}, False),
    ],
)
async def test_secure_cookie_flag(
    aiohttp_client: Any, settings: dict[str, Any], headers: dict[str, str], secure: bool
) -> None:
    world = World(**settings)
    await world.users()
    client = await aiohttp_client(world.app)
    resp = await client.post(
        "/login",
        data={"login": "boss", "password": PASSWORD},
        headers={"Origin": origin(client), **headers},
        allow_redirects=False,
    )
    cookie = resp.cookies[SESSION_COOKIE]
    assert bool(cookie["secure"]) is secure
    assert cookie["httponly"] is True and cookie["samesite"] == "Strict"


async def test_login_page_renders_a_hostile_login_as_text(
    aiohttp_client: Any, world: World
) -> None:
    client = await aiohttp_client(world.app)
    hostile = '"><script>alert(1)</script>'
    resp = await client.post(
        "/login",
        data={"login": hostile, "password": "x"},
        headers={"Origin": origin(client), "Accept": "text/html"},
    )
    text = await resp.text()
    assert resp.status == 401 and "<script>alert" not in text and "&lt;script&gt;" in text


# --- brute force ------------------------------------------------------------------------------


async def test_repeated_wrong_passwords_lock_the_login_with_429(
    aiohttp_client: Any, world: World
) -> None:
    client = await aiohttp_client(world.app)

    async def attempt(password: str, **headers: str) -> aiohttp.ClientResponse:
        return await client.post(
            "/login",
            data={"login": "boss", "password": password},
            headers={"Origin": origin(client), **headers},
            allow_redirects=False,
        )

    assert [(await attempt(f"guess {n}")).status for n in range(4)] == [401, 401, 401, 401]
    locked = await attempt(PASSWORD)
    assert locked.status == 429 and locked.headers["Retry-After"] == "60"
    page = await attempt(PASSWORD, Accept="text/html")
    assert page.status == 429 and 'data-i18n="login.throttled"' in await page.text()
    world.clock[0] += 61
    assert (await attempt(PASSWORD)).status == 303


async def test_x_forwarded_for_counts_only_from_trusted_proxies(aiohttp_client: Any) -> None:
    world = World(trusted_proxies=())
    await world.users()
    world.auth.throttle = LoginThrottle(
        clock=lambda: world.clock[0],
        per_login=Lockout(free_failures=100),
        per_address=Lockout(free_failures=2, base_delay=60),
    )
    client = await aiohttp_client(world.app)
    statuses = []
    for n in range(4):  # a client rotating a forged X-Forwarded-For is still one address
        resp = await client.post(
            "/login",
            data={"login": f"user{n}", "password": "wrong one"},
            headers={"Origin": origin(client), "X-Forwarded-For": f"203.0.113.{n}"},
        )
        statuses.append(resp.status)
    assert statuses == [401, 401, 401, 429]


# --- websocket limits and session end ---------------------------------------------------------


async def test_a_client_flooding_the_socket_is_closed_with_1008(
    aiohttp_client: Any, world: World
) -> None:
    client = await signed_in(aiohttp_client, world, "boss")
    async with client.ws_connect("/ws", headers={"Origin": origin(client)}) as ws:
        await ws.receive_json(timeout=5)
        for _ in range(50):
            await ws.send_str("x")
        while (msg := await ws.receive(timeout=5)).type is WSMsgType.TEXT:
            pass
        assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
        assert ws.close_code == 1008


async def test_feeds_per_user_are_capped(aiohttp_client: Any, world: World) -> None:
    client = await signed_in(aiohttp_client, world, "boss")
    sockets = [await client.ws_connect("/ws", headers={"Origin": origin(client)}) for _ in range(3)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect("/ws", headers={"Origin": origin(client)})
    assert caught.value.status == 429
    for ws in sockets:
        await ws.close()


async def test_logout_elsewhere_closes_the_feed_with_4401(
    aiohttp_client: Any, world: World
) -> None:
    client = await signed_in(aiohttp_client, world, "ivanov")
    async with client.ws_connect("/ws", headers={"Origin": origin(client)}) as ws:
        await ws.receive_json(timeout=5)
        await world.auth.disable_user("ivanov")
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.CLOSE and msg.data == 4401
    await asyncio.sleep(0)
