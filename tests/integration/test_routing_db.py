"""Routing's tables on SQLite and PostgreSQL: state intervals, the rota, decisions on calls."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.calls.model import CallRecord, Direction, Outcome
from cti.db.calls import CallRepository
from cti.db.migrate import upgrade
from cti.db.models import Agent, Customer, CustomerPhone
from cti.db.routing import RoutingRepository
from cti.db.session import create_engine, session_factory
from cti.routing.model import AgentState, UnknownAgent, UnknownShift
from cti.routing.policy import RoutingOptions
from cti.routing.rules import parse_rules
from cti.routing.schedules import make_shift
from cti.routing.service import RoutingService
from cti.routing.setup import customer_lookup

T0 = 1_795_503_600.0  # 2026-11-24 10:00 Moscow, a Tuesday


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade(database_url)
    engine = create_engine(database_url)
    factory = session_factory(engine)
    async with factory() as s, s.begin():
        s.add_all(
            [
                Agent(
                    login="ivanova",
                    name="Ivanova",
                    extension="101",
                    device="PJSIP/101",
                    mobile="+79167654321",
                    teams=["sales"],
                    seniority=3,
                    max_calls=2,
                ),
                Agent(
                    login="petrov",
                    name="Petrov",
                    extension="199",
                    device="PJSIP/199",
                    teams=["duty"],
                ),
            ]
        )
        customer = Customer(name="Иван Сергеевич", company="Уютный дом", manager_login="ivanova")
        customer.phones = [CustomerPhone(e164="+79161234567", raw="8 916 123-45-67")]
        s.add(customer)
    try:
        yield factory
    finally:
        await engine.dispose()


async def test_agents_come_with_teams_seniority_and_limits(sessions) -> None:
    agents = {a.login: a for a in await RoutingRepository(session_factory=sessions).agents()}
    assert agents["ivanova"].teams == frozenset({"sales"})
    assert (agents["ivanova"].seniority, agents["ivanova"].max_calls) == (3, 2)
    assert agents["ivanova"].mobile == "+79167654321" and agents["petrov"].max_calls == 1


async def test_how_long_was_she_at_lunch(sessions) -> None:
    repo = RoutingRepository(session_factory=sessions)
    await repo.set_state("ivanova", AgentState.AVAILABLE, "", at=T0, actor="cli")
    await repo.set_state("ivanova", AgentState.PAUSED, "lunch", at=T0 + 3600, actor="api")
    again = await repo.set_state("ivanova", AgentState.PAUSED, "lunch", at=T0 + 3700)
    assert again.since == T0 + 3600  # the same state again keeps its start
    await repo.set_state("ivanova", AgentState.AVAILABLE, "", at=T0 + 3600 + 2520)
    await repo.set_state("ivanova", AgentState.PAUSED, "lunch", at=T0 + 7200)
    current = await repo.current_states()
    assert current["ivanova"].state is AgentState.PAUSED and current["ivanova"].since == T0 + 7200
    history = await repo.state_history("ivanova", since=T0 + 1800, until=T0 + 7500)
    assert [(i.state.value, i.reason, i.seconds(T0 + 7500)) for i in history] == [
        ("available", "", 1800.0),  # clipped to the window
        ("paused", "lunch", 2520.0),
        ("available", "", 1080.0),
        ("paused", "lunch", 300.0),  # still open: counted up to the end of the window
    ]
    with pytest.raises(UnknownAgent):
        await repo.set_state("ghost", AgentState.OFFLINE, "", at=T0)


async def test_the_rota_is_edited_and_replaced(sessions) -> None:
    repo = RoutingRepository(session_factory=sessions)
    first = await repo.add_shift(make_shift("ivanova", "mon-fri", "12:00", "14:00"))
    await repo.add_shift(make_shift("petrov", "daily", "20:00", "08:00"))
    await repo.update_shift(first.id or 0, make_shift("ivanova", "mon-fri", "13:00", "15:00"))
    assert [(s.login, s.days, s.hours) for s in await repo.shifts()] == [
        ("ivanova", "mon-fri", "13:00-15:00"),
        ("petrov", "daily", "20:00-08:00"),
    ]
    await repo.delete_shift(first.id or 0)
    with pytest.raises(UnknownShift):
        await repo.delete_shift(first.id or 0)
    with pytest.raises(UnknownAgent):
        await repo.add_shift(make_shift("ghost", "sat", "10:00", "12:00"))
    count = await repo.replace_shifts(
        [
            make_shift("petrov", "sat,sun", "00:00", "24:00"),
            make_shift("nobody", "2026-12-31", "00:00", "24:00"),
        ]
    )
    assert count == 2
    assert [(s.login, s.days) for s in await repo.shifts()] == [
        ("petrov", "sat,sun"),
        ("", "2026-12-31"),
    ]


async def test_the_service_decides_from_the_database_and_the_call_keeps_why(sessions) -> None:
    repo = RoutingRepository(session_factory=sessions)
    await repo.replace_shifts([make_shift("petrov", "mon-fri", "09:00", "18:00")])
    clock = [T0]
    routing = RoutingService(
        store=repo,
        lookup=customer_lookup(sessions, "RU"),
        rules=parse_rules([]),
        options=RoutingOptions(),
        timezone="Europe/Moscow",
        clock=lambda: clock[0],
    )
    await routing.load()
    decision = await routing.decide("8 (916) 123-45-67", "74951112233", key="1795503600.1")
    assert decision.customer is not None and decision.customer.company == "Уютный дом"
    assert [t.kind.value for t in decision.targets] == [
        "manager",
        "manager_mobile",
        "duty",
        "voicemail",
    ]
    await routing.set_state("ivanova", AgentState.PAUSED, "lunch")
    assert (await repo.current_states())["ivanova"].reason == "lunch"
    record = CallRecord(
        linkedid="1795503600.1",
        direction=Direction.INBOUND,
        caller="89161234567",
        caller_e164="+79161234567",
        caller_name="",
        did="74951112233",
        agents_rung=("101", "199"),
        answered_by=("199",),
        outcome=Outcome.ANSWERED,
        missed_kind=None,
        short_abandon=False,
        started_at=T0,
        answered_at=T0 + 30,
        ended_at=T0 + 90,
        wait_seconds=30.0,
        talk_seconds=60.0,
    )
    calls = CallRepository(session_factory=sessions)
    await calls.save_many([routing.annotate(record)])
    [stored] = await calls.list_calls()
    assert (stored.route_kind, stored.fallback) == ("duty", True)
    assert stored.route_reason == "duty operator Petrov"
    plain = dataclasses.replace(record, linkedid="1795503600.2")
    await calls.save_many([routing.annotate(plain)])  # no decision known: left empty
    assert (await calls.list_calls())[1].route_kind is None
