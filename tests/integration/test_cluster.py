"""Several processes, in one: the AMI lease and its epoch on the real Redis, fencing and
idempotent writes on SQLite and the real PostgreSQL (two writers that overlap record each call,
missed call and callback once; a stale epoch writes nothing)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from cti.app import build, call_store, create_server_app
from cti.calls.model import CallRecord, Direction, MissedKind, Outcome
from cti.cluster import fence
from cti.cluster.fence import StaleEpoch
from cti.cluster.lease import AmiLease
from cti.config import Settings
from cti.db.calls import CallRepository
from cti.db.migrate import upgrade
from cti.db.missed_models import CallbackRow, MissedCallRow
from cti.db.models import CallRow
from cti.db.session import create_engine, session_factory
from cti.routing.model import AgentState
from tests.pops_world import KNOWN, running, until

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
    prefix = f"cti-test-{uuid.uuid4().hex[:10]}:"
    client.test_prefix = prefix
    yield client
    keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def lease(redis: Any, node: str, **kw: Any) -> AmiLease:
    return AmiLease(redis=redis, node_id=node, key=f"{redis.test_prefix}lease", **kw)


async def test_every_acquisition_takes_a_new_epoch_and_a_holder_that_stops_renewing_steps_down(
    redis: Any,
) -> None:
    a, b = lease(redis, "a", ttl=0.5), lease(redis, "b", ttl=0.5)
    seen: list[tuple[str, int | None, bool]] = []
    a.on_change(lambda e, cont: seen.append(("a", e, cont)))
    b.on_change(lambda e, cont: seen.append(("b", e, cont)))
    assert await a.step() and a.epoch == 1
    assert not await b.step() and b.epoch is None
    assert await a.step() and a.epoch == 1  # renewing keeps the epoch
    await asyncio.sleep(0.6)  # `a` is paused: it counts itself out before anyone else can be in
    assert not a.valid()
    assert await b.step() and b.epoch == 2
    assert not await a.step()
    await b.release()
    assert await a.step() and a.epoch == 3
    assert seen == [
        ("a", 1, False),
        ("b", 2, False),
        ("a", None, False),
        ("b", None, False),
        ("a", 3, False),  # `b` held 2 in between: what `a` tracked is stale
    ]


async def test_a_holder_that_lapsed_without_a_rival_keeps_its_calls_and_epochs_never_go_back(
    redis: Any,
) -> None:
    a = lease(redis, "a", ttl=0.3)
    continuity: list[bool] = []
    a.on_change(lambda e, cont: continuity.append(cont))
    assert await a.step() and a.epoch == 1
    await asyncio.sleep(0.4)
    assert await a.step() and a.epoch == 2
    assert continuity == [False, False, True]  # lost, then back with the next epoch: no rival
    await redis.delete(a.key, a.epoch_key)  # Redis restarted without its data
    b = lease(redis, "b", ttl=0.3, floor=_const(9))  # the database has seen epoch 9
    await asyncio.sleep(0.35)
    assert await b.step() and b.epoch == 10


async def test_a_slow_database_does_not_hold_up_taking_the_lease(redis: Any) -> None:
    """The newest fenced epoch is read from the database before a takeover: a database that
    answers in 20 s must not make the takeover take 20 s (the last floor read is used)."""
    reads = [_const(4), _slow(20.0)]

    async def floor() -> int:
        return await reads[0]() if len(reads) == 2 else await reads[-1]()

    b = lease(redis, "b", ttl=0.3, floor=floor)
    await redis.set(b.epoch_key, 0)
    assert await b.step() and b.epoch == 5  # the database's floor, read quickly
    await b.release()
    reads.pop(0)  # now the database is slow
    await redis.delete(b.key, b.epoch_key)  # and Redis lost its counter meanwhile
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await b.step()
    assert loop.time() - started < 2.0
    assert b.epoch is not None and b.epoch > 5  # the last floor read still rules


def _slow(seconds: float) -> Any:
    async def floor() -> int:
        await asyncio.sleep(seconds)
        return 0

    return floor


def _const(value: int) -> Any:
    async def floor() -> int:
        return value

    return floor


def answered(n: int) -> CallRecord:
    end = datetime(2026, 11, 24, 12, 0, tzinfo=UTC).timestamp() + n
    return CallRecord(
        linkedid=f"1764000000.{n}",
        direction=Direction.INBOUND,
        caller="89161234567",
        caller_e164="+79161234567",
        caller_name="Иван",
        did="74952220101",
        agents_rung=("101",),
        answered_by=("101",),
        outcome=Outcome.ANSWERED,
        missed_kind=None,
        short_abandon=False,
        started_at=end - 30,
        answered_at=end - 20,
        ended_at=end,
        wait_seconds=10.0,
        talk_seconds=20.0,
    )


def missed(n: int, number: str) -> CallRecord:
    return dataclasses.replace(
        answered(n),
        caller=number,
        caller_e164=number,
        answered_by=(),
        outcome=Outcome.MISSED,
        missed_kind=MissedKind.NO_ANSWER,
        answered_at=None,
        talk_seconds=0.0,
    )


async def counts(repository: CallRepository, sessions: Any) -> tuple[int, int, int]:
    async with sessions() as session:
        calls = await session.scalar(select(func.count()).select_from(CallRow))
        misses = await session.scalar(select(func.count()).select_from(MissedCallRow))
        callbacks = await session.scalar(select(func.count()).select_from(CallbackRow))
    return int(calls or 0), int(misses or 0), int(callbacks or 0)


async def test_a_stale_epoch_writes_nothing(database_url: str) -> None:
    await upgrade(database_url)
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        repository, _ = call_store(Settings(), sessions)
        assert await fence.newest(sessions) == 0
        await repository.save_many([answered(1)], epoch=2)  # the new leader wrote
        assert await fence.newest(sessions) == 2
        with pytest.raises(StaleEpoch):  # the paused former leader wakes with epoch 1
            await repository.save_many(
                [dataclasses.replace(answered(1), talk_seconds=999.0), missed(2, "+79160000002")],
                epoch=1,
            )
        assert await counts(repository, sessions) == (1, 0, 0)
        (stored,) = await repository.list_calls()
        assert stored.talk_seconds == 20.0
        await repository.save_many([missed(2, "+79160000002")], epoch=2)
        assert await counts(repository, sessions) == (2, 1, 1)
    finally:
        await engine.dispose()


async def _save_until_stored(
    repository: CallRepository, records: list[CallRecord], epoch: int | None
) -> None:
    """What CallService's writer does: a transaction that lost a unique-key race is retried."""
    for _ in range(20):
        try:
            await repository.save_many(records, epoch=epoch)
            return
        except IntegrityError:
            await asyncio.sleep(0.01)
        except Exception as exc:  # SQLite: "database is locked" while the other one writes
            if "locked" not in str(exc):
                raise
            await asyncio.sleep(0.05)
    raise AssertionError("never stored")


@pytest.mark.parametrize("epochs", [(None, None), (3, 3)], ids=["unfenced", "same-epoch"])
async def test_two_overlapping_writers_record_each_call_missed_call_and_callback_once(
    database_url: str, epochs: tuple[int | None, int | None]
) -> None:
    await upgrade(database_url)
    engines = [create_engine(database_url), create_engine(database_url)]
    try:
        stores = [call_store(Settings(), session_factory(e))[0] for e in engines]
        numbers = [f"+7916000{n:04d}" for n in range(10)]
        batches = [
            [
                missed(n, numbers[n % 10]) if n % 3 == 0 else answered(n)
                for n in range(start, start + 10)
            ]
            for start in range(0, 60, 10)
        ]
        for batch in batches:  # both processes write every batch (a resync replayed it), at once
            await asyncio.gather(
                *(_save_until_stored(s, batch, e) for s, e in zip(stores, epochs, strict=True))
            )
        calls, misses, callbacks = await counts(stores[0], session_factory(engines[0]))
        assert calls == 60
        assert misses == len([n for n in range(60) if n % 3 == 0])
        assert callbacks == len({numbers[n % 10] for n in range(60) if n % 3 == 0})
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_standby_shows_the_live_calls_and_applies_agent_states_set_elsewhere(
    tmp_path: Path, redis: Any
) -> None:
    async with running(tmp_path, redis_url=REDIS_URL, redis_prefix=redis.test_prefix) as world:
        assert world.c.feed is not None and world.c.feed.lease is not None
        await until(world.c.feed.lease.valid)
        standby = build(world.c.settings)
        runner = web.AppRunner(create_server_app(standby))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            assert standby.feed is not None and standby.routing is not None
            assert world.c.routing is not None
            await until(lambda: standby.ami.connected)
            assert not standby.ami.consuming and not standby.service.tracker.calls
            linkedid, _, task = world.sim.start_scenario(
                "answered", agent="101", caller=KNOWN, talk=30.0
            )
            await until(lambda: linkedid in {c["linkedid"] for c in standby.feed.live_calls()})  # type: ignore[union-attr]
            assert not standby.service.tracker.calls  # mirrored, not tracked
            await standby.routing.set_state("102", AgentState.PAUSED, "lunch")
            # at once, not at routing's next reload from the database (every 5 s)
            await until(lambda: _state(world.c.routing, "102") is AgentState.PAUSED, timeout=1.0)
            await task
            await until(lambda: not standby.feed.live_calls())  # type: ignore[union-attr]
        finally:
            await runner.cleanup()


def _state(routing: Any, login: str) -> AgentState | None:
    presence = routing.presence.get(login)
    return presence.state if presence is not None else None


async def test_the_handover_keeps_live_and_unstored_calls_and_fences_out_a_former_leader(
    redis: Any,
) -> None:
    from cti.calls.model import Call
    from cti.cluster.handover import Handover

    epochs = {"a": 1, "b": 2}
    a = Handover(redis=redis, prefix=redis.test_prefix, epoch=lambda: epochs["a"])
    b = Handover(redis=redis, prefix=redis.test_prefix, epoch=lambda: epochs["b"])
    live = Call(linkedid="L1", started_at=1000.0, caller="+79161234567")
    done, stored = answered(1), answered(2)
    a.live(live)
    a.finished(done)
    a.finished(stored)
    assert await a.write()
    a.stored([stored])  # the database has this one: it leaves the handover
    assert await a.write()
    calls, records = await b.take_over(2)
    assert calls == [live] and records == [done]
    # the former leader wakes up and writes: refused, what b took stays as it was
    a.live(dataclasses.replace(live, caller="stale"))
    assert not await a.write() and a.refused == 1
    again, records = await Handover(
        redis=redis, prefix=redis.test_prefix, epoch=lambda: 3
    ).take_over(3)
    assert again == [live] and records == [done]
