"""The feed across processes, on the real Redis: the journal in Redis Streams (numbers, resume,
too far behind), the fan-out (node ids, own echoes ignored, presence), the lease, and two whole
servers sharing one Redis: the pop reaches the agent whichever process holds their socket."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web

from cti.app import build, create_server_app
from cti.auth.principal import Principal, Role, Via
from cti.pops.fanout import LeaderLease, RedisFanout
from cti.pops.hub import FeedHub
from cti.pops.journal import RedisJournal
from tests.pops_world import KNOWN, KNOWN_NAME, World, running, until

REDIS_URL = os.environ.get("CTI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
async def redis() -> AsyncIterator[Any]:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no Redis here"
        await client.aclose()
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_URL} is unreachable ({exc}); CI must run these tests")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable ({exc})")
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Any) -> AsyncIterator[str]:
    """A key prefix of this test's own: tests sharing the Redis never meet."""
    value = f"cti-test-{uuid.uuid4().hex[:10]}:"
    yield value
    keys = [k async for k in redis.scan_iter(match=f"{value}*")]
    if keys:
        await redis.delete(*keys)


class Inbox:
    """An outlet: what a websocket of `principal` would be sent."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.got: list[dict[str, Any]] = []

    def offer(self, seq: int, text: str) -> None:
        message = json.loads(text)
        assert message["seq"] == seq
        self.got.append(message)

    def start_over(self) -> None:
        self.got.append({"type": "start_over"})


def person(login: str, role: Role = Role.AGENT, ext: str = "") -> Principal:
    return Principal(login=login, role=role, via=Via.TOKEN, extensions=frozenset({ext} - {""}))


@asynccontextmanager
async def two_processes(
    redis: Any, prefix: str
) -> AsyncIterator[tuple[list[FeedHub], list[RedisFanout]]]:
    """Two processes' feeds sharing the Redis: journals, fan-outs and writers running."""
    hubs, fanouts, tasks = [], [], []
    for _ in range(2):
        journal = RedisJournal(redis=redis, prefix=f"{prefix}feed:")
        await journal.start()
        hub = FeedHub(journal=journal)
        fanout = RedisFanout(
            redis=aioredis.Redis.from_url(REDIS_URL),
            node_id=hub.node_id,
            on_message=hub.from_fanout,
            on_connected=hub.hello,
            channel=f"{prefix}feed",
            backoff_min=0.05,
        )
        hub.fanout = fanout
        hubs.append(hub)
        fanouts.append(fanout)
        tasks += [asyncio.create_task(fanout.run()), asyncio.create_task(hub.write_forever())]
    try:
        yield hubs, fanouts
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for fanout in fanouts:
            await fanout._redis.aclose()


async def test_the_redis_journal_numbers_resumes_and_says_when_too_far_behind(
    redis: Any, prefix: str
) -> None:
    journal = RedisJournal(redis=redis, prefix=prefix, limit=5)
    await journal.start()
    again = RedisJournal(redis=redis, prefix=prefix)
    await again.start()
    assert journal.stream_id and again.stream_id == journal.stream_id  # shared by processes
    seqs = await journal.append([("ivanov", f'{{"n":{n}}}') for n in range(1, 4)])
    assert seqs == [1, 2, 3]
    assert await journal.append([("petrova", '{"n":1}'), ("ivanov", '{"n":4}')]) == [1, 4]
    assert await journal.head("ivanov") == 4 and await journal.head("nobody") == 0
    assert [(e.seq, e.body) for e in await journal.since("ivanov", 2)] == [
        (3, '{"n":3}'),
        (4, '{"n":4}'),
    ]
    assert await journal.since("ivanov", 4) == []
    assert await journal.since("ivanov", 9) is None  # a position this stream never had
    await journal.append([("ivanov", "{}")] * 300)
    assert await journal.since("ivanov", 1) is None  # trimmed away: a snapshot instead
    assert await journal.head("ivanov") == 304
    await journal.keep_pop("ivanov", "L1", '{"linkedid":"L1"}')
    await journal.keep_pop("ivanov", "L2", '{"linkedid":"L2"}')
    await journal.keep_pop("ivanov", "L1", None)
    assert await journal.pops("ivanov") == ['{"linkedid":"L2"}']


async def test_two_processes_deliver_once_each_ignore_their_echoes_and_share_presence(
    redis: Any, prefix: str
) -> None:
    async with two_processes(redis, prefix) as (hubs, fanouts):
        a, b = hubs
        await until(lambda: all(f.connected for f in fanouts))
        here, there = Inbox(person("ivanov", ext="101")), Inbox(person("ivanov", ext="101"))
        boss = Inbox(person("boss", Role.SUPERVISOR))
        a.attach(here)
        b.attach(there)
        b.attach(boss)
        await until(lambda: "boss" in a._watchers)  # presence crossed over
        a.publish({"type": "call.ringing", "agent": "ivanov", "linkedid": "L", "pop": {}})
        a.publish({"type": "call.live", "call": {"linkedid": "L", "agents_ringing": ["101"]}})
        await until(lambda: len(there.got) == 2 and len(boss.got) == 1)
        await asyncio.sleep(0.2)  # anything more (an echo delivered twice) would show up now
        assert [(m["type"], m["seq"]) for m in here.got] == [("call.ringing", 1), ("call.live", 2)]
        assert there.got == here.got
        assert [(m["type"], m["seq"]) for m in boss.got] == [("call.live", 1)]
        assert fanouts[0].echoes >= 1 and fanouts[1].received >= 1


async def test_a_redis_emptied_under_two_processes_starts_a_new_stream_and_every_socket_resyncs(
    redis: Any, prefix: str
) -> None:
    """Redis restarted without persistence: the numbers begin at 1 again. A console kept open
    would discard them all (it has seen higher ones), so every socket on every process is told
    to reconnect, and the reconnect gets a snapshot of the new stream, not a resume."""
    async with two_processes(redis, prefix) as (hubs, fanouts):
        a, b = hubs
        await until(lambda: all(f.connected for f in fanouts))
        here, there = Inbox(person("ivanov", ext="101")), Inbox(person("ivanov", ext="101"))
        a.attach(here)
        b.attach(there)
        await until(lambda: "ivanov" in a._there and "ivanov" in b._there)
        for n in range(3):
            a.publish({"type": "call.ringing", "agent": "ivanov", "linkedid": f"L{n}", "pop": {}})
        await until(lambda: len(there.got) == 3)
        old = a.journal.stream_id
        assert b.journal.stream_id == old

        keys = [k async for k in redis.scan_iter(match=f"{prefix}feed:*")]
        await redis.delete(*keys)  # what a restart without persistence leaves

        a.publish({"type": "call.ringing", "agent": "ivanov", "linkedid": "L9", "pop": {}})
        await until(lambda: {"type": "start_over"} in here.got)
        await until(lambda: {"type": "start_over"} in there.got)
        new = a.journal.stream_id
        assert new != old and b.journal.stream_id == new
        assert isinstance(a.journal, RedisJournal) and a.journal.restarts == 1
        # the console reconnects with its old position: a snapshot of the new stream
        first, last = await b.opening(person("ivanov", ext="101"), since=3, stream=old)
        snapshot = json.loads(first[0])
        assert snapshot["type"] == "snapshot" and snapshot["reason"] == "other_stream"
        assert snapshot["stream"] == new and snapshot["seq"] == last == 1
        # and from there it receives the next message (numbered 2) instead of discarding it
        after = Inbox(person("ivanov", ext="101"))
        b.attach(after)
        a.publish({"type": "call.ringing", "agent": "ivanov", "linkedid": "L10", "pop": {}})
        await until(lambda: len(after.got) == 1)
        assert after.got[0]["seq"] == 2 and after.got[0]["linkedid"] == "L10"


async def test_one_process_at_a_time_holds_the_lease_and_another_takes_over(
    redis: Any, prefix: str
) -> None:
    first = LeaderLease(redis=redis, node_id="a", key=f"{prefix}lease", ttl=0.5)
    second = LeaderLease(redis=redis, node_id="b", key=f"{prefix}lease", ttl=0.5)
    assert await first.step() is True
    assert await second.step() is False
    assert await first.step() is True  # renewing keeps it
    await asyncio.sleep(0.6)  # `first` died: its lease runs out
    assert await second.step() is True
    assert await first.step() is False
    await second.release()
    assert await first.step() is True


async def test_the_pop_reaches_the_agent_on_whichever_server_holds_the_socket(
    tmp_path: Path, redis: Any, prefix: str
) -> None:
    async with running(tmp_path, redis_url=REDIS_URL, redis_prefix=prefix) as world:
        assert world.c.feed is not None
        await until(lambda: world.c.feed is not None and world.c.feed.publishing)
        # a second process on the same database, Redis and PBX: it tracks, but does not publish
        other = build(world.c.settings)
        runner = web.AppRunner(create_server_app(other))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            assert other.feed is not None and not other.feed.publishing
            host, port = runner.addresses[0][:2]
            second = World(world.sim, other, f"http://{host}:{port}", world.tokens, world.session)
            await until(lambda: other.ami.connected)
            away = await second.feed("101")
            boss = await second.feed("boss")
            await until(lambda: "boss" in world.c.feed.hub._watchers)  # type: ignore[union-attr]
            linkedid, _, task = world.sim.start_scenario("answered", agent="101", caller=KNOWN)
            await task
            await world.settle()
            await until(lambda: away.pop_ended(linkedid))
            (ringing,) = away.of("call.ringing", linkedid)
            assert ringing["pop"]["customer"]["name"] == KNOWN_NAME
            assert len(away.of("call.answered", linkedid)) == 1
            seqs = [m["seq"] for m in away.messages[1:]]
            assert seqs == sorted(set(seqs))  # in order, once each
            await until(lambda: bool(boss.of("call.ended", linkedid)))
            # resuming on the other server: the shared journal knows the position
            snapshot = away.messages[0]
            await away.ws.close()
            later, _, task = world.sim.start_scenario("answered", agent="101", caller=KNOWN)
            await task
            await world.settle()
            back = await world.feed("101", since=seqs[-1], stream=snapshot["stream"])
            await until(lambda: back.pop_ended(later))
            assert back.messages[0]["type"] == "resume"
            assert [m["seq"] for m in back.messages[1:]][0] == seqs[-1] + 1
            for feed, ftask in second.feeds:
                await feed.ws.close()
                ftask.cancel()
                assert feed.invalid == []
        finally:
            await runner.cleanup()
