"""Persistence against SQLite and PostgreSQL: migrations, call upserts, the demo directory."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.calls.model import CallRecord, Direction, MissedKind, Outcome
from cti.db import migrate
from cti.db.calls import CallRepository
from cti.db.directory import find_customer_by_e164, seed_demo
from cti.db.models import Agent, Base, CallRow, Customer, CustomerPhone
from cti.db.session import create_engine, normalize_url, session_factory

TABLES = {"calls", "agents", "customers", "customer_phones"}
T0 = 1_764_000_000.125  # 2025-11-24T16:00:00.125Z; millisecond values round-trip exactly


def make_record(n: int = 0, **changes: Any) -> CallRecord:
    record = CallRecord(
        linkedid=f"1764000000.{n}",
        direction=Direction.INBOUND,
        caller="89161234567",
        caller_e164="+79161234567",
        caller_name="Иван Сергеевич Кузнецов «Уютный дом» 🏠",
        did="+74951234567",
        agents_rung=("101", "102"),
        answered_by=("102",),
        outcome=Outcome.ANSWERED,
        missed_kind=None,
        short_abandon=False,
        started_at=T0 + n,
        answered_at=T0 + n + 7.25,
        ended_at=T0 + n + 67.5,
        wait_seconds=7.25,
        talk_seconds=60.25,
        hold_seconds=12.5,
        queue="support",
        transferred=True,
        recording="/var/spool/asterisk/monitor/1764000000.0.wav",
        resynced=True,
    )
    return dataclasses.replace(record, **changes)


def missed_record(n: int) -> CallRecord:
    return make_record(
        n,
        caller="anonymous",
        caller_e164=None,
        caller_name="",
        agents_rung=(),
        answered_by=(),
        outcome=Outcome.MISSED,
        missed_kind=MissedKind.ABANDONED,
        short_abandon=True,
        answered_at=None,
        talk_seconds=0.0,
        hold_seconds=0.0,
        queue=None,
        transferred=False,
        recording=None,
        resynced=False,
    )


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await migrate.upgrade(database_url)
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def repo(sessions: async_sessionmaker[AsyncSession]) -> CallRepository:
    return CallRepository(session_factory=sessions)


async def table_names(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


# --- migrations ---------------------------------------------------------------------------------


async def test_upgrade_is_idempotent_and_downgrade_empties(database_url: str) -> None:
    assert await migrate.current_revisions(database_url) == frozenset()
    await migrate.upgrade(database_url)
    heads = migrate.head_revisions()
    assert (
        "1000_callback_owners" in heads and await migrate.current_revisions(database_url) == heads
    )
    assert TABLES <= await table_names(database_url)

    engine = create_engine(database_url)
    try:
        repo = CallRepository(session_factory=session_factory(engine))
        await repo.save_many([make_record(1)])
        await migrate.upgrade(database_url)  # a no-op: nothing dropped, nothing re-run
        assert await repo.count() == 1
    finally:
        await engine.dispose()
    assert await migrate.current_revisions(database_url) == heads

    await migrate.downgrade(database_url)
    assert await migrate.current_revisions(database_url) == frozenset()
    assert not TABLES & await table_names(database_url)

    await migrate.upgrade(database_url)  # and back up again
    assert TABLES <= await table_names(database_url)


async def test_models_match_the_migration(database_url: str) -> None:
    await migrate.upgrade(database_url)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()
    assert diff == []


# --- calls --------------------------------------------------------------------------------------


async def test_round_trip_keeps_every_field(repo: CallRepository) -> None:
    records = [
        make_record(1),
        missed_record(2),
        make_record(
            3,
            direction=Direction.OUTBOUND,
            caller="101",
            caller_name="Мария Сидорова",
            did="+79031112233",
            outcome=Outcome.UNANSWERED,
            answered_by=(),
            answered_at=None,
            missed_kind=None,
            started_at=T0 + 3.001,
            ended_at=T0 + 33.999,
        ),
        dataclasses.replace(missed_record(4), missed_kind=MissedKind.OUT_OF_HOURS),
    ]
    assert await repo.save_many(records) == 4
    assert await repo.list_calls() == records
    assert [r.to_json() for r in await repo.list_calls()] == [r.to_json() for r in records]


async def test_timestamps_are_stored_as_aware_utc(
    repo: CallRepository, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await repo.save_many([make_record(0)])
    async with sessions() as session:
        row = (await session.scalars(select(CallRow))).one()
    assert row.started_at == datetime(2025, 11, 24, 16, 0, 0, 125_000, tzinfo=UTC)
    assert row.started_at.utcoffset() == timedelta(0)
    assert row.ended_at.tzinfo is not None and row.answered_at is not None
    assert row.created_at.tzinfo is not None
    assert abs(row.created_at - datetime.now(UTC)) < timedelta(minutes=5)


async def test_same_linkedid_twice_is_one_row_with_the_newer_values(repo: CallRepository) -> None:
    first = missed_record(7)
    newer = make_record(7, caller_name="Пётр Волков", talk_seconds=99.5, resynced=False)
    assert first.linkedid == newer.linkedid
    await repo.save_many([first])
    await repo.save_many([newer])
    assert await repo.count() == 1
    assert await repo.list_calls() == [newer]
    # within one batch too: the last record for a linkedid wins
    assert await repo.save_many([first, make_record(8), newer]) == 2
    assert await repo.count() == 2
    assert await repo.list_calls() == [newer, make_record(8)]


async def test_large_batch(repo: CallRepository) -> None:
    records = [make_record(n) if n % 3 else missed_record(n) for n in range(5_000)]
    assert await repo.save_many(records) == 5_000
    assert await repo.count() == 5_000
    stored = await repo.list_calls()
    assert stored == records
    assert await repo.save_many(records) == 5_000  # all conflicts, still one row each
    assert await repo.count() == 5_000


async def test_a_failed_batch_writes_nothing(repo: CallRepository) -> None:
    records = [make_record(n) for n in range(2_500)]
    records[1_500] = dataclasses.replace(records[1_500], caller=None)  # type: ignore[arg-type]
    with pytest.raises(IntegrityError):  # NOT NULL, in the second chunk of 1000
        await repo.save_many(records)
    assert await repo.count() == 0  # the first chunk went back too


async def test_since_and_limit(repo: CallRepository) -> None:
    records = [make_record(n) for n in range(10)]
    await repo.save_many(list(reversed(records)))  # stored order is not the answer order
    assert await repo.list_calls() == records
    since = datetime.fromtimestamp(T0 + 4, UTC)  # inclusive
    assert await repo.list_calls(since=since) == records[4:]
    moscow = since.astimezone(ZoneInfo("Europe/Moscow"))  # any aware time zone means the same
    assert await repo.list_calls(since=moscow) == records[4:]
    assert await repo.list_calls(since=since, limit=3) == records[4:7]
    assert await repo.list_calls(limit=0) == []
    assert await repo.list_calls(limit=3, newest_first=True) == records[:-4:-1]
    assert await repo.list_calls(since=since, newest_first=True) == records[:3:-1]
    assert await repo.list_calls(since=since + timedelta(days=1)) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        await repo.list_calls(since=datetime(2025, 11, 24, 16, 0))


async def test_empty_batch(repo: CallRepository) -> None:
    assert await repo.save_many([]) == 0
    assert await repo.count() == 0
    assert await repo.list_calls() == []


# --- directory ----------------------------------------------------------------------------------


async def count_rows(sessions: async_sessionmaker[AsyncSession], model: type[Base]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_seed_demo_is_idempotent(sessions: async_sessionmaker[AsyncSession]) -> None:
    await seed_demo(sessions)
    counts = [await count_rows(sessions, m) for m in (Agent, Customer, CustomerPhone)]
    assert counts == [4, 4, 5]
    await seed_demo(sessions)
    assert [await count_rows(sessions, m) for m in (Agent, Customer, CustomerPhone)] == counts
    async with sessions() as session:
        agents = (await session.scalars(select(Agent).order_by(Agent.login))).all()
    assert [(a.login, a.name, a.device, a.role) for a in agents] == [
        ("101", "Ivan Petrov", "PJSIP/101", "agent"),
        ("102", "Maria Sidorova", "PJSIP/102", "agent"),
        ("103", "Oleg Smirnov", "PJSIP/103", "agent"),
        ("199", "Duty Operator", "PJSIP/199", "agent"),
    ]


async def test_find_customer_by_e164(sessions: async_sessionmaker[AsyncSession]) -> None:
    assert await find_customer_by_e164(sessions, "+79161234567") is None  # nothing seeded yet
    await seed_demo(sessions)
    found = await find_customer_by_e164(sessions, "+79161234567")
    assert found is not None
    assert {k: found[k] for k in ("name", "company", "vip", "manager_login")} == {
        "name": "Иван Сергеевич Кузнецов",
        "company": "Уютный дом",
        "vip": True,
        "manager_login": "101",
    }
    for e164 in ("+79031112233", "+79165550101", "+79261112233", "+79165550102"):
        assert await find_customer_by_e164(sessions, e164) is not None, e164
    same = await find_customer_by_e164(sessions, "+79165550101")
    other = await find_customer_by_e164(sessions, "+79165550102")
    assert same == other  # one customer, two phones
    assert await find_customer_by_e164(sessions, "+79990000000") is None
    assert await find_customer_by_e164(sessions, "") is None


async def test_deleting_a_customer_deletes_its_phones(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed_demo(sessions)
    async with sessions() as session, session.begin():
        await session.execute(delete(Customer).where(Customer.external_id == "demo-3"))
    assert await count_rows(sessions, CustomerPhone) == 3  # ON DELETE CASCADE (SQLite: FKs on)
    assert await find_customer_by_e164(sessions, "+79165550101") is None


# --- engine setup -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("sqlite:///cti.db", "sqlite+aiosqlite:///cti.db"),
        ("sqlite+aiosqlite:///cti.db", "sqlite+aiosqlite:///cti.db"),
        ("postgresql://cti:s%40cret@db/cti", "postgresql+asyncpg://cti:s%40cret@db/cti"),
        ("postgres://cti@db:5433/cti", "postgresql+asyncpg://cti@db:5433/cti"),
        ("postgresql+psycopg2://cti@db/cti", "postgresql+asyncpg://cti@db/cti"),
        ("postgresql+asyncpg://cti@db/cti", "postgresql+asyncpg://cti@db/cti"),
    ],
)
def test_normalize_url(typed: str, expected: str) -> None:
    assert normalize_url(typed).render_as_string(hide_password=False) == expected


async def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/pragmas.db")
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await engine.dispose()
