"""Open websockets end at once when their access ends, over real HTTP and websockets and the
real database: a disabled user, a new password, a sign-out, a revoked token, an expired
session; from this process, from another (the database's log, Redis), and from the `cti` command.
The periodic re-check is left at its default (30 s), so only the access signal can pass these."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiohttp import WSMsgType
from aiohttp.test_utils import TestServer

from cti.auth.access import AccessChanges
from cti.auth.passwords import fast_passwords
from cti.auth.principal import Role, Scope
from cti.auth.service import AuthService
from cti.auth.sessions import SessionPolicy
from cti.auth.setup import housekeeping
from cti.auth.sql import SqlAccessLog, SqlAuthStore
from cti.bus import InProcessBus
from cti.config import Settings
from cti.db.migrate import upgrade
from cti.db.session import create_engine, session_factory
from tests.integration.test_feed_redis import redis  # noqa: F401 (the fixture)
from web.app import create_app
from web.feed_access import FEED_GUARD

PASSWORD = "a long enough password"
REDIS_URL = os.environ.get("CTI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
#: how long a test waits for the close: far below the 15..45 s of the periodic re-check
BOUND = 5.0


def pop(linkedid: str, agent: str = "ivanov") -> dict[str, Any]:
    return {"type": "call.ringing", "agent": agent, "linkedid": linkedid, "pop": {}}


class Server:
    """One `cti serve`-like process: the web edge on the database's auth store, its access
    changes followed by the same housekeeping task `cti serve` runs."""

    def __init__(
        self, database_url: str, *, redis_url: str = "", channel: str = "", ttl: float = 3600.0
    ) -> None:
        self.engine = create_engine(database_url)
        redis = aioredis.Redis.from_url(redis_url) if redis_url else None  # noqa: F811
        sessions = session_factory(self.engine)
        self.auth = AuthService(
            store=SqlAuthStore(session_factory=sessions),
            passwords=fast_passwords(),
            sessions=SessionPolicy(ttl=ttl),
            access=AccessChanges(
                log=SqlAccessLog(session_factory=sessions),
                redis=redis,
                owns_redis=True,  # closed with the application
                channel=channel or "cti:access",
            ),
        )
        self.bus = InProcessBus()
        self.app = create_app(
            settings=Settings(),
            bus=self.bus,
            live_calls=list,
            recent_calls=self._recent,
            health=lambda: {"status": "ok"},
            metrics=lambda: "",
            auth=self.auth,
        )
        self.app.cleanup_ctx.append(housekeeping(self.auth))
        self.server: TestServer | None = None

    @staticmethod
    async def _recent(limit: int, involving: frozenset[str] | None) -> list[dict[str, Any]]:
        return []

    async def close(self) -> None:
        await self.engine.dispose()


@contextlib.asynccontextmanager
async def server(database_url: str, **options: Any) -> AsyncIterator[Server]:
    s = Server(database_url, **options)
    try:
        yield s
    finally:
        await s.close()


async def with_people(database_url: str) -> None:
    await upgrade(database_url)
    async with server(database_url) as s:
        await s.auth.add_user("ivanov", role=Role.AGENT, password=PASSWORD)
        await s.auth.add_user("boss", role=Role.SUPERVISOR, password=PASSWORD)


async def client_of(aiohttp_client: Any, s: Server, login: str = "") -> Any:
    """A browser of its own (its own cookies) on the server `s` (started once)."""
    if s.server is None:
        s.server = TestServer(s.app)
    client = await aiohttp_client(s.server)
    if login:
        resp = await client.post(
            "/login",
            data={"login": login, "password": PASSWORD},
            headers={"Origin": origin(client)},
            allow_redirects=False,
        )
        assert resp.status == 303, await resp.text()
    return client


def origin(client: Any) -> str:
    return f"http://{client.host}:{client.port}"


async def feed(client: Any, **headers: str) -> Any:
    ws = await client.ws_connect("/ws", headers={"Origin": origin(client), **headers})
    first = await ws.receive_json(timeout=BOUND)
    assert first["type"] == "snapshot"
    return ws


async def until_closed(ws: Any, timeout: float = BOUND) -> tuple[int | None, list[dict[str, Any]]]:
    """Read until the server closes (TimeoutError when it does not in time): the code of its
    close frame (None without one) and every message received before it."""
    got = []
    async with asyncio.timeout(timeout):
        while (msg := await ws.receive()).type is WSMsgType.TEXT:
            got.append(msg.json())
    # the frame's code: aiohttp's client may report 1006 once the server drops the connection
    # before the client's reply to the close got out
    return (msg.data if msg.type is WSMsgType.CLOSE else None), got


# --- in the server's own process ---------------------------------------------------------------


async def test_a_disabled_users_feed_closes_at_once_and_gets_nothing_after(
    aiohttp_client: Any, database_url: str
) -> None:
    await with_people(database_url)
    async with server(database_url) as s:
        client = await client_of(aiohttp_client, s, "ivanov")
        ws = await feed(client)
        s.bus.publish(pop("before"))
        assert (await ws.receive_json(timeout=BOUND))["linkedid"] == "before"
        # a pop arriving while the socket's credentials are being re-checked...
        s.auth.access.listen(lambda login: s.bus.publish(pop("during")))
        await s.auth.disable_user("ivanov")
        s.bus.publish(pop("after"))  # ...and one after: the user is disabled, neither goes out
        code, got = await until_closed(ws)
        assert code == 4401
        assert got == []
        assert s.app[FEED_GUARD].ended == 1


async def test_a_new_password_and_a_sign_out_end_the_feeds_of_that_session_only(
    aiohttp_client: Any, database_url: str
) -> None:
    await with_people(database_url)
    async with server(database_url) as s:
        agent = await client_of(aiohttp_client, s, "ivanov")
        boss = await client_of(aiohttp_client, s, "boss")
        boss_elsewhere = await client_of(aiohttp_client, s, "boss")
        agent_ws, boss_ws, other_ws = (
            await feed(agent),
            await feed(boss),
            await feed(boss_elsewhere),
        )
        await s.auth.add_user("ivanov", role=Role.AGENT, password=PASSWORD + " changed")
        assert (await until_closed(agent_ws))[0] == 4401
        # boss signs out in one browser (the logout endpoint): that browser's feed ends...
        resp = await boss.post("/logout", headers={"Origin": origin(boss)}, allow_redirects=False)
        assert resp.status == 303
        assert (await until_closed(boss_ws))[0] == 4401
        # ...and the other browser's session still holds: its feed goes on
        s.bus.publish({"type": "callback.escalated", "callback": {"id": 1}})
        assert (await other_ws.receive_json(timeout=BOUND))["type"] == "callback.escalated"
        assert not other_ws.closed
        await other_ws.close()


async def test_a_revoked_token_ends_its_feed_and_a_new_role_applies_at_once(
    aiohttp_client: Any, database_url: str
) -> None:
    await with_people(database_url)
    async with server(database_url) as s:
        _, kept = await s.auth.create_token("ivanov", scopes=frozenset({Scope.READ}))
        record, revoked = await s.auth.create_token("ivanov", scopes=frozenset({Scope.READ}))
        client = await client_of(aiohttp_client, s)
        ws_kept = await client.ws_connect("/ws", headers={"Authorization": f"Bearer {kept}"})
        ws_gone = await client.ws_connect("/ws", headers={"Authorization": f"Bearer {revoked}"})
        for ws in (ws_kept, ws_gone):
            assert (await ws.receive_json(timeout=BOUND))["type"] == "snapshot"
        assert await s.auth.revoke_token(record.id)
        assert (await until_closed(ws_gone))[0] == 4401
        # an agent does not see supervisors' messages; made a supervisor, they do, from now on
        await s.auth.add_user("ivanov", role=Role.SUPERVISOR, password=PASSWORD)
        await s.app[FEED_GUARD].settle()  # the re-check it started (a few milliseconds)
        s.bus.publish({"type": "callback.escalated", "callback": {"id": 7}})
        got = await ws_kept.receive_json(timeout=BOUND)
        assert got["type"] == "callback.escalated" and got["callback"] == {"id": 7}
        await ws_kept.close()


async def test_a_feed_closes_when_its_session_expires(aiohttp_client: Any, tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'cti.db'}"
    await with_people(database_url)
    async with server(database_url, ttl=1.0) as s:
        client = await client_of(aiohttp_client, s, "ivanov")
        ws = await feed(client)
        code, _ = await until_closed(ws)
        assert code == 4401


# --- from another process ----------------------------------------------------------------------


async def test_disabling_in_another_process_ends_the_feed_through_the_database(
    aiohttp_client: Any, database_url: str
) -> None:
    await with_people(database_url)
    async with server(database_url) as s, server(database_url) as command:
        client = await client_of(aiohttp_client, s, "ivanov")
        ws = await feed(client)
        await command.auth.disable_user("ivanov")  # what `cti user disable` runs, elsewhere
        code, _ = await until_closed(ws)
        assert code == 4401


async def test_cti_user_disable_ends_the_users_feed(aiohttp_client: Any, tmp_path: Path) -> None:
    """The real command in its own process, against a server running on the same database."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'cti.db'}"
    await with_people(database_url)
    async with server(database_url) as s:
        client = await client_of(aiohttp_client, s, "ivanov")
        ws = await feed(client)
        command = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cti.cli",
            "user",
            "disable",
            "ivanov",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "CTI_DATABASE_URL": database_url, "PYTHONPATH": os.getcwd()},
            cwd=tmp_path,
        )
        out, err = await asyncio.wait_for(command.communicate(), 60)
        assert command.returncode == 0, err.decode()
        assert b"disabled" in out
        code, _ = await until_closed(ws)
        assert code == 4401


async def test_two_processes_with_redis_end_the_feed_where_it_is_open(
    aiohttp_client: Any,
    database_url: str,
    redis: Any,  # noqa: F811
) -> None:
    await with_people(database_url)
    channel = f"cti-test-{uuid.uuid4().hex[:10]}:access"
    async with (
        server(database_url, redis_url=REDIS_URL, channel=channel) as a,
        server(database_url, redis_url=REDIS_URL, channel=channel) as b,
    ):
        client = await client_of(aiohttp_client, b, "ivanov")
        ws = await feed(client)
        await client_of(aiohttp_client, a)  # a's watcher is subscribed once its app started
        await until_subscribed(redis, channel, 2)
        await a.auth.disable_user("ivanov")
        code, _ = await until_closed(ws, timeout=2.0)
        assert code == 4401


async def until_subscribed(redis: Any, channel: str, count: int) -> None:  # noqa: F811
    async with asyncio.timeout(BOUND):
        while (await redis.pubsub_numsub(channel))[0][1] < count:  # noqa: ASYNC110 - Redis
            await asyncio.sleep(0.01)  # has no event to wait on for another's subscription
