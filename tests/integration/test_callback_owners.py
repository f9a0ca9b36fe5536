"""Every callback has an owner: the chain down to the line's team's shared list, the claim, a
supervisor's assignment of one or many, the migration of unowned rows (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from cti.calls.model import MissedKind
from cti.db.calls import CallRepository
from cti.db.migrate import downgrade, upgrade
from cti.db.missed_models import CallbackLogRow
from cti.db.models import Agent, Customer
from cti.db.session import create_engine, session_factory
from cti.missed.book import CallbackBook, CallbackPolicy, MissContext
from cti.missed.callbacks import (
    CallbackClaimed,
    CallbackConflict,
    CallbackError,
    CallbackFilter,
    CallbackForbidden,
    Callbacks,
)
from cti.missed.model import CallbackState, OwnerContext
from tests.integration.test_callbacks import IVAN, MSK, at, missed

ROOT = Path(__file__).resolve().parents[2]
STRANGER = "+79031112233"  # nobody manages this caller
OTHER = "+79031112244"


@dataclass
class Line:
    """No manager for strangers, nobody on duty, no default owner: the chain's far end."""

    announced: list[dict] = field(default_factory=list)
    told: list[dict] = field(default_factory=list)

    async def context(self, number: str, when: datetime) -> MissContext:
        manager = "ivanova" if number == IVAN else None
        return MissContext(
            customer_id=None, owner=OwnerContext(manager, True, None, None), timezone=MSK
        )


@dataclass
class World:
    repo: CallRepository
    callbacks: Callbacks
    line: Line
    now: list[datetime]


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    await upgrade(database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        for login, name, ext, teams in (
            ("ivanova", "Иванова", "101", ["sales"]),
            ("petrov", "Петров", "102", ["sales"]),
            ("sidorov", "Сидоров", "103", ["sales", "vip"]),
            ("kuznetsova", "Кузнецова", "104", ["support"]),
        ):
            session.add(
                Agent(login=login, name=name, extension=ext, device=f"PJSIP/2{ext}", teams=teams)
            )
    line = Line()
    now = [datetime(2026, 11, 25, 15, 0, tzinfo=MSK)]
    policy = CallbackPolicy(line_team=lambda did: "sales" if did == "74952220101" else "support")
    repo = CallRepository(
        session_factory=sessions,
        after_save=[CallbackBook(context=line.context, policy=policy).record_calls],
        announce=line.announced.append,
    )
    callbacks = Callbacks(
        session_factory=sessions,
        context=line.context,
        policy=policy,
        clock=lambda: now[0].astimezone(UTC),
        announce=line.told.append,
    )
    try:
        yield World(repo, callbacks, line, now)
    finally:
        await engine.dispose()


async def open_ones(callbacks: Callbacks, **kw: object) -> list[dict]:
    return await callbacks.list(CallbackFilter(state=CallbackState.OPEN, **kw))  # type: ignore[arg-type]


async def test_the_owner_chain_ends_at_the_last_agent_rung_then_the_lines_shared_list(
    world: World,
) -> None:
    rung = replace(
        missed("m1", at(15, 0), number=STRANGER), agents_rung=("2102", "+79160000000", "2103")
    )
    await world.repo.save_many([rung])  # sidorov's phone (PJSIP/2103) rang last; a mobile after
    closed = missed("m2", at(15, 1), number=OTHER, kind=MissedKind.OUT_OF_HOURS)  # nobody rang
    await world.repo.save_many([closed])
    await world.repo.save_many([missed("m3", at(15, 2))])  # ivanova's customer: hers
    by_number = {cb["number"]: cb for cb in await open_ones(world.callbacks)}
    assert (by_number[STRANGER]["owner"], by_number[STRANGER]["owner_reason"]) == (
        "sidorov",
        "last_rung",
    )
    shared = by_number[OTHER]
    assert (shared["owner"], shared["owner_reason"], shared["team"], shared["shared"]) == (
        None,
        "team",
        "sales",
        True,
    )
    assert by_number[IVAN]["owner"] == "ivanova"
    # every agent of the line heard of the shared one, each by login; nobody of another team
    told = [
        m["agent"]
        for m in world.line.announced
        if m["type"] == "callback.created" and m["callback"]["number"] == OTHER
    ]
    assert sorted(told) == ["ivanova", "petrov", "sidorov"]
    # an agent's list: their own and their lines' shared list; another team's agent: not it
    petrov = await open_ones(world.callbacks, owner="petrov", shared_teams=("sales",))
    assert [cb["number"] for cb in petrov] == [OTHER]
    assert await open_ones(world.callbacks, owner="kuznetsova", shared_teams=("support",)) == []
    assert [cb["number"] for cb in await open_ones(world.callbacks, shared=True)] == [OTHER]


async def test_a_shared_callback_is_claimed_once_and_the_second_claim_is_told_who(
    world: World,
) -> None:
    await world.repo.save_many(
        [missed("m1", at(15, 0), number=OTHER, kind=MissedKind.OUT_OF_HOURS)]
    )
    [cb] = await open_ones(world.callbacks)
    with pytest.raises(CallbackForbidden, match="shared list of team 'sales'"):
        await world.callbacks.claim(cb["id"], by="kuznetsova")  # support is not this line
    mine = await world.callbacks.claim(cb["id"], by="petrov")
    assert (mine["owner"], mine["owner_reason"], mine["shared"]) == ("petrov", "claimed", False)
    assert (await world.callbacks.claim(cb["id"], by="petrov"))["owner"] == "petrov"  # again
    with pytest.raises(CallbackClaimed, match=r"already claimed by Петров \(petrov\)") as refused:
        await world.callbacks.claim(cb["id"], by="sidorov")
    assert refused.value.owner == "petrov"
    detail = await world.callbacks.get(cb["id"])
    claimed = [e for e in detail["log"] if e["action"] == "claimed"]
    assert [(e["actor"], e["detail"]["to"], e["detail"]["team"]) for e in claimed] == [
        ("petrov", "petrov", "sales")
    ]
    # the team's consoles drop it from the shared list: each agent of the line is told once
    assert sorted(m["agent"] for m in world.line.told) == ["ivanova", "petrov", "sidorov"]
    assert await open_ones(world.callbacks, owner="sidorov", shared_teams=("sales", "vip")) == []


async def test_a_supervisor_assigns_many_at_once_all_or_nothing_and_every_change_is_logged(
    world: World,
) -> None:
    await world.repo.save_many(
        [
            missed("m1", at(15, 0), number=OTHER, kind=MissedKind.OUT_OF_HOURS),
            replace(missed("m2", at(15, 1), number=STRANGER), agents_rung=("2103",)),
            missed("m3", at(15, 2)),
        ]
    )
    ids = {cb["number"]: cb["id"] for cb in await open_ones(world.callbacks)}
    resolved = await world.callbacks.resolve(ids[IVAN], by="boss", note="reached by mail")
    with pytest.raises(CallbackConflict, match=f"callback {resolved['id']} is already resolved"):
        await world.callbacks.assign([ids[OTHER], ids[IVAN]], to="ivanova", by="boss")
    with pytest.raises(CallbackError, match="no agent 'ivanov'"):
        await world.callbacks.assign([ids[OTHER]], to="ivanov", by="boss")
    assert {cb["number"]: cb["owner"] for cb in await open_ones(world.callbacks)} == {
        OTHER: None,
        STRANGER: "sidorov",
    }  # nothing changed
    views = await world.callbacks.assign(
        [ids[OTHER], ids[STRANGER]], to="ivanova", by="boss", reason="sidorov is ill"
    )
    assert [(v["owner"], v["owner_reason"]) for v in views] == [("ivanova", "reassigned")] * 2
    back = await world.callbacks.assign([ids[STRANGER]], to=None, by="boss")  # to the shared list
    assert (back[0]["owner"], back[0]["owner_reason"], back[0]["shared"]) == (None, "team", True)
    moves = [
        (e["actor"], e["detail"]["from"], e["detail"]["to"], e["detail"]["reason"])
        for e in (await world.callbacks.get(ids[STRANGER]))["log"]
        if e["action"] == "reassigned"
    ]
    assert moves == [
        ("boss", "sidorov", "ivanova", "sidorov is ill"),
        ("boss", "ivanova", None, ""),
    ]
    assert {m["agent"] for m in world.line.told} >= {"ivanova", "sidorov", "petrov"}


async def test_the_migration_gives_unowned_callbacks_an_owner_by_the_chain(
    database_url: str,
) -> None:
    await upgrade(database_url)
    await downgrade(database_url, "1000_callback_owners-1")  # the schema before owners
    engine = create_engine(database_url)
    created = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    try:
        async with session_factory(engine)() as session, session.begin():
            session.add(Agent(login="petrov", name="Петров", extension="102", device="PJSIP/2102"))
            session.add(Customer(id=7, name="Уютный дом", manager_login="ivanova"))
            await session.flush()
            for n, (number, customer) in enumerate(((IVAN, 7), (STRANGER, None), (OTHER, None))):
                await session.execute(
                    text(
                        "INSERT INTO callbacks (id, number, customer_id, state, source, "
                        "owner_login, owner_reason, misses, created_at, deadline_at, timezone, "
                        "attempts) VALUES (:id, :number, :customer, 'open', 'missed_call', NULL, "
                        "'nobody', 1, :at, :at, 'Europe/Moscow', 0)"
                    ),
                    {
                        "id": n + 1,
                        "number": number,
                        "customer": customer,
                        "at": created.replace(tzinfo=None),
                    },
                )
            await session.execute(
                text(
                    "INSERT INTO missed_calls (linkedid, missed_at, kind, short_abandon, caller, "
                    "caller_name, did, agents_rung, wait_seconds, callback_id) VALUES ('m2', :at, "
                    "'no_answer', false, '89031112233', '', '', :rung, 5, 2)"
                ),
                {"at": created.replace(tzinfo=None), "rung": json.dumps(["2102"])},
            )
        await upgrade(database_url)
        async with session_factory(engine)() as session:
            rows = (
                await session.execute(
                    text("SELECT id, owner_login, owner_reason, team FROM callbacks ORDER BY id")
                )
            ).all()
            assert [tuple(r) for r in rows] == [
                (1, "ivanova", "manager", ""),
                (2, "petrov", "last_rung", ""),
                (3, None, "team", ""),
            ]
            log = await session.scalars(select(CallbackLogRow).order_by(CallbackLogRow.callback_id))
            assert [(e.callback_id, e.actor, e.action) for e in log] == [
                (1, "system", "owner_repaired"),
                (2, "system", "owner_repaired"),
                (3, "system", "owner_repaired"),
            ]
    finally:
        await engine.dispose()
    # `cti callbacks --open`: nobody's callback is nobody's; the shared one names its list
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cti.cli", "callbacks", "--open"],
        capture_output=True,
        text=True,
        env={**os.environ, "CTI_DATABASE_URL": database_url},
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 3 and "(nobody)" not in out.stdout
    assert [line.split()[4] for line in lines] == ["ivanova", "petrov", "@all"]
