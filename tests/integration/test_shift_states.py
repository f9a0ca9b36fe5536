"""shifts_set_state: agents' states follow their shifts (available at the start, offline at the
end), once per edge, without overriding a state the agent chose during the shift."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from cti.routing.model import AgentState
from cti.routing.timetable import make_row
from tests.routing_world import office

MSK = ZoneInfo("Europe/Moscow")


def ts(hh: int, mm: int = 0) -> float:
    return datetime(2026, 11, 24, hh, mm, tzinfo=MSK).timestamp()  # a Tuesday


async def test_states_follow_the_shift_start_and_end() -> None:
    clock = [ts(8, 0)]
    routing = office(clock)
    await routing.load()
    await routing.replace_agent_shifts(
        [make_row("@sales", "mon-fri", "09:00-18:00"), make_row("kozlov", "2026-11-24", "off")]
    )
    await routing.set_state("ivanova", AgentState.OFFLINE)
    await routing.set_state("sidorova", AgentState.OFFLINE)
    await routing.set_state("kozlov", AgentState.OFFLINE)
    assert await routing.apply_shift_edges(ts(8, 0), ts(8, 59)) == []
    started = await routing.apply_shift_edges(
        ts(8, 59),
        ts(
            9,
            0,
        ),
    )
    assert sorted(started) == [
        ("ivanova", AgentState.AVAILABLE),
        ("sidorova", AgentState.AVAILABLE),
    ]
    assert routing.presence["kozlov"].state is AgentState.OFFLINE  # sick today: no shift

    await routing.set_state("ivanova", AgentState.PAUSED, "lunch")
    assert await routing.apply_shift_edges(ts(9, 0), ts(17, 0)) == []  # her own choice stays
    ended = await routing.apply_shift_edges(
        ts(17, 0),
        ts(
            18,
            0,
        ),
    )
    assert sorted(ended) == [("ivanova", AgentState.OFFLINE), ("sidorova", AgentState.OFFLINE)]
    assert await routing.apply_shift_edges(ts(18, 0), ts(19, 0)) == []  # each edge once
    # smirnova and petrov have no shifts: never touched
    assert "smirnova" not in routing.presence and "petrov" not in routing.presence


async def test_the_background_task_runs_only_where_it_leads() -> None:
    clock = [ts(8, 59)]
    routing = office(clock)
    await routing.load()
    await routing.replace_agent_shifts([make_row("ivanova", "tue", "09:00-18:00")])
    await routing.set_state("ivanova", AgentState.OFFLINE)
    leading = [False]
    task = asyncio.create_task(
        routing.follow_shifts_forever(leading=lambda: leading[0], every=0.01)
    )
    try:
        clock[0] = ts(9, 1)
        await asyncio.sleep(0.05)
        assert routing.presence["ivanova"].state is AgentState.OFFLINE  # a standby: not its job
        leading[0] = True
        clock[0] = ts(18, 1)
        await asyncio.sleep(0.05)
        assert routing.presence["ivanova"].state is AgentState.OFFLINE
        clock[0] = ts(8, 0) + 86400 * 7  # next Tuesday, before the shift
        await asyncio.sleep(0.05)
        clock[0] = ts(9, 5) + 86400 * 7
        await asyncio.sleep(0.05)
        assert routing.presence["ivanova"].state is AgentState.AVAILABLE
    finally:
        task.cancel()
