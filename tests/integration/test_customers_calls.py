"""Calls are linked to the customer matched at ring time, on SQLite and PostgreSQL: the live board
shows them, the stored call keeps their id, and the customer's recent calls list them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cti.ami.ingest import EventStream
from cti.app import tracking_rules
from cti.calls.service import CallService
from cti.calls.tracker import CallTracker
from cti.config import Settings
from cti.customers.audit import CLI_ACTOR
from cti.customers.directory import CallerDirectory
from cti.customers.service import CustomerService
from cti.db.calls import CallRepository
from cti.db.migrate import upgrade
from cti.db.session import create_engine, session_factory

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


@pytest.fixture
async def world(
    database_url: str,
) -> AsyncIterator[tuple[CustomerService, CallerDirectory, CallRepository]]:
    await upgrade(database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    callers = CallerDirectory(engine=engine, region="RU")
    customers = CustomerService(
        sessions=sessions, region="RU", office_timezone="Europe/Moscow", directory=callers
    )
    await callers.reload()
    try:
        yield customers, callers, CallRepository(session_factory=sessions)
    finally:
        await engine.dispose()


class Recorder:
    """Stands in for the live bus: keeps what was published."""

    def __init__(self, seen: list[dict[str, Any]]) -> None:
        self.publish = seen.append


async def play(service: CallService, *names: str) -> None:
    rules = tracking_rules(Settings())
    stream = EventStream(
        on_event=service.handle, variables=(*rules.did_variables, *rules.recording_variables)
    )
    loop = asyncio.get_running_loop()
    for name in names:
        data = (CAPTURES / name).read_bytes()
        for start in range(0, len(data), 512):  # as a socket delivers it: lookups run in between
            stream.feed(data[start : start + 512], loop.time())
            await asyncio.sleep(0)


async def test_calls_carry_the_customer_matched_at_ring_time(
    world: tuple[CustomerService, CallerDirectory, CallRepository],
) -> None:
    customers, callers, repo = world
    ivan = await customers.create(
        {"name": "Иван", "company": "Уютный дом", "phones": ["8 916 123-45-67"], "vip": True},
        actor=CLI_ACTOR,
    )
    anna = await customers.create({"name": "Анна", "phones": ["+7 903 111-22-33"]}, actor=CLI_ACTOR)
    seen: list[dict[str, Any]] = []
    board = Recorder(seen)
    service = CallService(
        tracker=CallTracker(rules=tracking_rules(Settings())),
        store=repo,
        bus=board,
        customer_lookup=callers.for_call,
    )
    writer = asyncio.create_task(service.write_forever())
    try:
        await play(
            service,
            "01_inbound_answered_by_101_caller_hangs_up.ami",  # +79161234567 calls in
            "03_inbound_caller_hangs_up_while_ringing_missed.ami",  # +79031112233
            "07_click2call_originate_102_then_external.ami",  # 102 dials 89161234567
            "18_internal_call_101_to_102_answered.ami",  # no customer
            "13_inbound_short_abandon_after_1_5s_ringing_101.ami",  # +79261112233: unknown
        )
        await service.flush()
    finally:
        writer.cancel()
    stored = {
        r.caller if r.direction.value != "outbound" else r.did: r.customer_id
        for r in await repo.list_calls()
    }
    assert stored == {
        "+79161234567": ivan["id"],
        "+79031112233": anna["id"],
        "89161234567": ivan["id"],
        "101": None,
        "+79261112233": None,
    }
    pops = [
        m["call"]["customer"] for m in seen if m["type"] == "call.live" and m["call"]["customer"]
    ]
    assert {
        "customer_id": ivan["id"],
        "name": "Иван",
        "company": "Уютный дом",
        "vip": True,
        "manager_login": None,
    } in pops
    ended = [m["call"] for m in seen if m["type"] == "call.ended"]
    assert {c["customer_id"] for c in ended} == {ivan["id"], anna["id"], None}
    recent = await customers.calls(ivan["id"])
    assert [c["direction"] for c in recent] == ["outbound", "inbound"]  # newest first
