"""The live caller lookup stays correct when the directory changes behind its back (another
process, an import, a pruned feed), on SQLite and PostgreSQL; and the migration's downgrade
keeps what it did not add."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, func, select

from cti.customers import importing
from cti.customers.audit import CLI_ACTOR
from cti.customers.directory import CallerDirectory
from cti.customers.service import AgentService, CustomerService
from cti.db import migrate
from cti.db.bulk import run as run_import
from cti.db.directory_models import AuditRow, DirectoryChangeRow
from cti.db.models import CustomerPhone
from cti.db.session import create_engine, session_factory


@pytest.fixture
async def elsewhere(
    database_url: str,
) -> AsyncIterator[tuple[CallerDirectory, CustomerService, AgentService, object]]:
    """A loaded live lookup, and services on another engine that never tell it anything (as
    `cti import` in another process would not)."""
    await migrate.upgrade(database_url)
    live_engine, other_engine = create_engine(database_url), create_engine(database_url)
    callers = CallerDirectory(engine=live_engine, region="RU", refresh_every=0.05)
    sessions = session_factory(other_engine)
    customers = CustomerService(sessions=sessions, region="RU", office_timezone="Europe/Moscow")
    agents = AgentService(sessions=sessions, region="RU")
    await callers.reload()
    try:
        yield callers, customers, agents, sessions
    finally:
        await live_engine.dispose()
        await other_engine.dispose()


def name_of(callers: CallerDirectory, phone: str) -> str | None:
    found = callers.match_now(phone)
    assert found is not None
    return found.customer.name if found.customer else None


async def test_changes_made_elsewhere_reach_the_live_lookup(elsewhere) -> None:  # type: ignore[no-untyped-def]
    callers, customers, agents, _ = elsewhere
    ivan = await customers.create({"name": "Иван", "phones": ["8 916 123-45-67"]}, actor=CLI_ACTOR)
    assert name_of(callers, "+79161234567") is None  # not told yet
    await callers.refresh()
    assert name_of(callers, "+79161234567") == "Иван"
    assert callers.stats()["loads"] == 1  # a few ids: applied, no reload

    await customers.patch(
        ivan["id"], {"name": "Иван К.", "phones": ["+7 903 000-00-01"]}, actor=CLI_ACTOR
    )
    await agents.save(
        None, {"login": "ivanova", "name": "Мария", "extension": "301"}, actor=CLI_ACTOR
    )
    await callers.refresh()
    assert name_of(callers, "+79161234567") is None and name_of(callers, "89030000001") == "Иван К."
    internal = callers.match_now("301")
    assert internal is not None and internal.internal and internal.agent == "ivanova"

    await customers.delete(ivan["id"], actor=CLI_ACTOR)
    await callers.refresh()
    assert name_of(callers, "89030000001") is None


async def test_the_poller_follows_on_its_own(elsewhere) -> None:  # type: ignore[no-untyped-def]
    callers, customers, _, _ = elsewhere
    task = asyncio.create_task(callers.run())
    try:
        await customers.create({"name": "Анна", "phones": ["+7 903 111-22-33"]}, actor=CLI_ACTOR)
        for _ in range(100):
            if name_of(callers, "89031112233") == "Анна":
                break
            await asyncio.sleep(0.05)
        assert name_of(callers, "89031112233") == "Анна"
    finally:
        task.cancel()


async def test_a_big_import_elsewhere_reloads_the_index(elsewhere) -> None:  # type: ignore[no-untyped-def]
    callers, _, _, sessions = elsewhere
    rows = [
        (n + 2, {"external_id": f"x{n}", "name": f"C{n}", "phones": f"+7 916 {n:03d}-00-00"})
        for n in range(1_200)
    ]
    report = await run_import(
        sessions=sessions,
        kind=importing.CUSTOMERS,
        records=rows,
        region="RU",
        actor=CLI_ACTOR,
        chunk=300,
        statistics_after=500,  # planner statistics refreshed mid-import and after, as on big files
    )
    assert report.created == 1_200
    await callers.refresh()  # more than BULK_CHANGE ids: recorded as "everything", so a reload
    assert callers.stats()["loads"] == 2 and callers.stats()["customers"] == 1_200
    assert name_of(callers, "8 916 777-00-00") == "C777"


async def test_a_feed_that_no_longer_reaches_back_reloads(elsewhere) -> None:  # type: ignore[no-untyped-def]
    callers, customers, _, sessions = elsewhere
    await customers.create({"name": "Олег", "phones": ["+7 903 222-33-44"]}, actor=CLI_ACTOR)
    async with sessions() as session, session.begin():  # type: ignore[operator]
        await session.execute(delete(DirectoryChangeRow))  # as if pruned while we were away
    await customers.create({"name": "Ольга", "phones": ["+7 903 555-66-77"]}, actor=CLI_ACTOR)
    await callers.refresh()
    assert callers.stats()["loads"] == 2
    assert name_of(callers, "89032223344") == "Олег" and name_of(callers, "89035556677") == "Ольга"


async def test_downgrading_the_directory_keeps_phones_and_upgrading_again_works(
    database_url: str,
) -> None:
    await migrate.upgrade(database_url)
    engine = create_engine(database_url)
    try:
        customers = CustomerService(
            sessions=session_factory(engine), region="RU", office_timezone="Europe/Moscow"
        )
        await customers.create({"name": "Иван", "phones": ["8 916 123-45-67"]}, actor=CLI_ACTOR)
    finally:
        await engine.dispose()
    await migrate.downgrade(database_url, "0001_initial")  # this feature's (and what builds on it)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:  # SQLite must not have cascaded the phones away
            assert (
                await conn.execute(select(func.count()).select_from(CustomerPhone.__table__))
            ).scalar() == 1
    finally:
        await engine.dispose()
    await migrate.upgrade(database_url)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert (
                await conn.execute(select(func.count()).select_from(AuditRow.__table__))
            ).scalar() == 0
            # phones from before the migration get their national number for the fallback
            nsn = (await conn.execute(select(CustomerPhone.nsn, CustomerPhone.valid))).one()
            assert tuple(nsn) == ("9161234567", True)
    finally:
        await engine.dispose()
