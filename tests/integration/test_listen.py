"""`cti listen`: an integrator's script gets an agent's pops as JSON lines over real websockets,
from the PBX simulator through the whole server; a refused token stops it with the reason."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path

import pytest

from cti.pops.listen import ListenRefused, feed_url, listen
from tests.pops_world import World, running, until


@pytest.fixture
async def world(tmp_path: Path) -> World:  # type: ignore[misc]
    async with running(tmp_path) as w:
        yield w


async def test_an_agents_pops_arrive_as_json_lines_and_nobody_elses(world: World) -> None:
    lines: list[str] = []
    task = asyncio.get_running_loop().create_task(
        listen(world.url, world.tokens["101"], emit=lines.append, warn=lines.append)
    )
    try:
        await asyncio.sleep(0.3)
        other, _, done_other = world.sim.start_scenario("answered", agent="102", ring=1.0, talk=0.5)
        mine, _, done = world.sim.start_scenario(
            "answered", agent="101", caller="8 916 123-45-67", ring=5.0, talk=0.5
        )
        await asyncio.gather(done, done_other)
        await world.settle()
        messages = lambda: [json.loads(line) for line in lines]  # noqa: E731
        await until(lambda: any(m["type"] == "call.ended" for m in messages()))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    got = messages()
    assert [m["type"] for m in got][0] == "call.ringing"
    assert {m["type"] for m in got} >= {"call.ringing", "call.answered", "call.ended"}
    assert all(m["agent"] == "101" for m in got)
    assert {m.get("linkedid") or m["call"]["linkedid"] for m in got} == {mine}
    assert got[0]["pop"]["caller"]["e164"] == "+79161234567"
    assert len({m["seq"] for m in got}) == len(got)  # never one twice


async def test_a_refused_token_stops_listening_with_the_reason(world: World) -> None:
    with pytest.raises(ListenRefused, match="401"):
        await listen(world.url, "not-a-token", emit=print, warn=print)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cti.cli",
        "listen",
        "--url",
        world.url,
        "--token",
        "not-a-token",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 50)
    assert process.returncode == 2 and out == b""
    assert b"refused the feed (401)" in err


def test_the_feed_url_follows_the_servers_scheme_and_resumes() -> None:
    assert feed_url("http://127.0.0.1:8080", None, None) == "ws://127.0.0.1:8080/ws"
    assert feed_url("https://cti.example", 7, "abc") == "wss://cti.example/ws?since=7&stream=abc"
    assert feed_url("127.0.0.1:8080", None, None) == "ws://127.0.0.1:8080/ws"
