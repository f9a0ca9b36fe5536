"""The server connected to the PBX simulator over TCP: what it stores equals what replay makes of
the same bytes, and a dropped AMI link mid-call still yields exactly one correct record."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from cti.ami.simulator import PbxSimulator
from cti.app import Components, build, create_server_app, tracking_rules
from cti.calls.replay import replay_files
from cti.config import Settings
from cti.db.migrate import upgrade

SECRET = "sim-secret"
SPEED = 25.0


@contextlib.asynccontextmanager
async def running_server(settings: Settings) -> AsyncIterator[Components]:
    await upgrade(settings.database_url)
    components = build(settings)
    runner = web.AppRunner(create_server_app(components))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield components
    finally:
        await runner.cleanup()


def server_settings(database_url: str, sim: PbxSimulator) -> Settings:
    return Settings(
        database_url=database_url,
        ami_port=sim.port,
        ami_secret=SECRET,
        ami_reconnect_min=0.05,
        ami_reconnect_max=0.2,
        ami_ping_interval=1.0,
        ami_ping_timeout=1.0,
        api_tokens=("t",),
    )


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def same(got: dict[str, Any], want: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    diffs = []
    for key, value in want.items():
        if key in ("linkedid", "scenario") or key not in got:
            continue
        ok = abs(got[key] - value) <= 0.15 if isinstance(value, float) else got[key] == value
        if not ok:
            diffs.append((key, got[key], value))
    return diffs


async def test_live_server_records_what_replay_of_the_same_bytes_gives(
    database_url: str, tmp_path: Path
) -> None:
    capture = tmp_path / "live.ami"
    async with PbxSimulator(secret=SECRET, speed=SPEED, seed=7, record_path=str(capture)) as sim:
        async with running_server(server_settings(database_url, sim)) as c:
            await until(lambda: c.ami.connected)
            names = [
                "answered",
                "no_answer_then_duty",
                "abandoned",
                "short_abandon",
                "busy",
                "no_answer_voicemail",
                "out_of_hours",
                "queue_answered",
                "queue_abandoned",
                "blind_transfer",
                "attended_transfer",
                "click_to_call",
                "internal",
                "pickup",
            ]
            started = [sim.start_scenario(name, caller_name="Иван Сергеевич") for name in names]
            expected = await asyncio.gather(*(task for _, _, task in started))
            await until(lambda: not c.service.tracker.calls and c.service.backlog == 0)
            await c.service.flush()
            stored = {r.linkedid: r.to_json() for r in await c.repository.list_calls()}
    replayed = {
        r.linkedid: r.to_json() for r in replay_files([capture], rules=tracking_rules(Settings()))
    }
    assert stored == replayed
    for want in expected:
        got = stored[want["linkedid"]]
        assert not same(got, want), (want["scenario"], same(got, want))
    # the consultation call of the attended transfer is the only other call
    assert len(stored) == len(names) + 1


async def test_dropping_the_ami_link_mid_call_gives_one_correct_record(database_url: str) -> None:
    async with PbxSimulator(secret=SECRET, speed=SPEED, seed=3) as sim:
        async with running_server(server_settings(database_url, sim)) as c:
            await until(lambda: c.ami.connected)
            linkedid, want, task = sim.start_scenario("answered", ring=2.0, talk=40.0)
            await until(lambda: any(call.answered_at for call in c.service.tracker.calls.values()))
            assert sim.drop_clients() == 1
            await until(lambda: c.ami.stats.connects >= 2 and c.ami.connected)
            await task
            await until(lambda: not c.service.tracker.calls and c.service.backlog == 0)
            await c.service.flush()
            records = await c.repository.list_calls()
    assert [r.linkedid for r in records] == [linkedid]
    assert not same(records[0].to_json(), want)


async def test_call_that_ends_while_the_link_is_down_is_closed_once(database_url: str) -> None:
    async with PbxSimulator(secret=SECRET, speed=SPEED, seed=5) as sim:
        async with running_server(server_settings(database_url, sim)) as c:
            await until(lambda: c.ami.connected)
            linkedid, want, task = sim.start_scenario("answered", ring=1.0, talk=10.0)
            await until(lambda: any(call.answered_at for call in c.service.tracker.calls.values()))
            sim.secret = "rotated"  # the server cannot log back in until it is restored
            sim.drop_clients()
            await task  # the call ends while nobody listens
            assert c.service.tracker.calls  # still open as far as the server knows
            sim.secret = SECRET
            await until(lambda: c.ami.connected and not c.service.tracker.calls)
            await c.service.flush()
            records = await c.repository.list_calls()
    assert len(records) == 1
    rec = records[0]
    assert (rec.linkedid, rec.outcome.value, rec.answered_by, rec.resynced) == (
        linkedid,
        "answered",
        ("101",),
        True,
    )


async def stored_when_idle(c: Components) -> list:
    await until(lambda: not c.service.tracker.calls and c.service.backlog == 0)
    await c.service.flush()
    return await c.repository.list_calls()


def assert_rebuilt_as_seen_whole(records: list, linkedid: str, want: dict[str, Any]) -> None:
    assert [r.linkedid for r in records] == [linkedid]
    diffs = same(records[0].to_json(), {**want, "resynced": True})
    assert not diffs, diffs


async def test_server_started_in_the_middle_of_a_call_records_it_as_seen_whole(
    database_url: str,
) -> None:
    """cti (re)started while a call is in progress: direction, caller, DID, who rang and the
    times come from Asterisk (CoreShowChannels, then Status with the CDR times)."""
    async with PbxSimulator(secret=SECRET, speed=SPEED, seed=7) as sim:
        linkedid, want, task = sim.start_scenario("answered", ring=2.0, talk=30.0)
        await until(lambda: any(ch.answered_at for ch in sim._pbx.channels.values()))
        await asyncio.sleep(0.2)
        async with running_server(server_settings(database_url, sim)) as c:
            await until(lambda: bool(c.service.tracker.calls))
            await task
            records = await stored_when_idle(c)
    assert_rebuilt_as_seen_whole(records, linkedid, want)


async def test_answer_during_an_ami_outage_keeps_asterisks_times(database_url: str) -> None:
    async with PbxSimulator(secret=SECRET, speed=SPEED, seed=9) as sim:
        async with running_server(server_settings(database_url, sim)) as c:
            await until(lambda: c.ami.connected)
            linkedid, want, task = sim.start_scenario("answered", ring=6.0, talk=30.0)
            await until(lambda: any(call.offers for call in c.service.tracker.calls.values()))
            sim.secret = "rotated"  # away while the phone rings and is answered
            sim.drop_clients()
            await until(lambda: any(ch.answered_at for ch in sim._pbx.channels.values()))
            await asyncio.sleep(0.3)
            sim.secret = SECRET
            await task
            records = await stored_when_idle(c)
    assert_rebuilt_as_seen_whole(records, linkedid, want)


@pytest.mark.parametrize("rate", [20.0])
async def test_overlapping_random_traffic_is_recorded_call_for_call(
    database_url: str, rate: float
) -> None:
    done: list[dict[str, Any]] = []
    async with PbxSimulator(secret=SECRET, speed=SPEED * 2, seed=11) as sim:
        async with running_server(server_settings(database_url, sim)) as c:
            await until(lambda: c.ami.connected)
            await sim.random_traffic(rate, duration=20.0, on_call_done=done.append)
            await until(lambda: not c.service.tracker.calls and c.service.backlog == 0)
            await c.service.flush()
            stored = {r.linkedid: r.to_json() for r in await c.repository.list_calls()}
    assert len(done) > 100
    for want in done:
        got = stored.get(want["linkedid"])
        assert got is not None, want
        assert not same(got, want), (want["scenario"], same(got, want))


async def test_replay_store_makes_and_resolves_callbacks_as_the_live_server(
    database_url: str, tmp_path: Path
) -> None:
    from cti.app import call_store
    from cti.db.session import create_engine, session_factory
    from cti.missed.callbacks import CallbackFilter

    capture = tmp_path / "callbacks.ami"
    async with PbxSimulator(secret=SECRET, speed=SPEED, seed=9, record_path=str(capture)) as sim:
        async with running_server(server_settings(database_url, sim)) as c:
            await until(lambda: c.ami.connected)
            await sim.play("abandoned", caller="89031112233")
            await sim.play("no_answer_voicemail", caller="+79031112233")  # the same customer again
            await sim.play("short_abandon", caller="89265550000")
            await sim.play(
                "click_to_call", agent="102", number="89031112233"
            )  # the callback, answered
            await until(lambda: not c.service.tracker.calls and c.service.backlog == 0)
            await c.service.flush()
            live = await c.callbacks.list(CallbackFilter())

    replay_db = f"sqlite+aiosqlite:///{tmp_path / 'replay.db'}"
    await upgrade(replay_db)
    engine = create_engine(replay_db)
    try:
        repository, callbacks = call_store(Settings(), session_factory(engine))
        await repository.save_many(list(replay_files([capture], rules=tracking_rules(Settings()))))
        replayed = await callbacks.list(CallbackFilter())
    finally:
        await engine.dispose()
    keys = ("number", "state", "misses", "attempts", "resolution", "resolved_by", "deadline_at")
    assert [{k: cb[k] for k in keys} for cb in live] == [
        {k: cb[k] for k in keys} for cb in replayed
    ]
    by_number = {cb["number"]: cb for cb in live}
    assert by_number["+79031112233"]["misses"] == 2
    assert by_number["+79031112233"]["resolution"] == "outbound_answered"
    assert by_number["+79265550000"]["state"] == "open"
