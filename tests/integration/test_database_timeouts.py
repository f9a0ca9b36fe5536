"""A stuck session must not stall the rest: PostgreSQL's own timeouts end a transaction left open
by a paused process (releasing its locks), and readiness names a locked database as locked, not
as "unreachable". Against the real PostgreSQL (and SQLite, where none of this applies)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from cti.app import database_options
from cti.cluster.probes import Probes
from cti.config import Settings
from cti.db.session import create_engine
from tests.conftest import _fresh_postgres_database


@pytest.mark.postgres
async def test_the_server_ends_a_transaction_left_open_and_its_lock_goes_with_it() -> None:
    async with _fresh_postgres_database() as database_url:
        await _paused_transaction_is_ended(database_url)


async def _paused_transaction_is_ended(database_url: str) -> None:
    settings = Settings(
        database_url=database_url,
        database_idle_in_transaction_timeout=1.0,
        database_lock_timeout=5.0,
    )
    paused = create_engine(database_url, **database_options(settings))
    other = create_engine(database_url, **database_options(settings))
    try:
        async with other.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id int PRIMARY KEY, n int)"))
            await conn.execute(text("INSERT INTO t VALUES (1, 0)"))
            shown = (await conn.execute(text("SHOW idle_in_transaction_session_timeout"))).scalar()
            assert shown == "1s"
        stuck = await paused.connect()
        await stuck.begin()
        await stuck.execute(text("UPDATE t SET n = 1 WHERE id = 1"))  # then the process pauses
        started = asyncio.get_running_loop().time()
        async with other.begin() as conn:  # waits for the lock, gets it when the server ends it
            await conn.execute(text("UPDATE t SET n = 2 WHERE id = 1"))
        waited = asyncio.get_running_loop().time() - started
        assert waited < 4.0, waited
        async with other.connect() as conn:
            assert (await conn.execute(text("SELECT n FROM t"))).scalar() == 2
        with pytest.raises(Exception):  # noqa: B017 - the paused session was ended by the server
            await stuck.execute(text("SELECT 1"))
        await stuck.invalidate()
    finally:
        await paused.dispose()
        await other.dispose()


async def test_readiness_says_the_database_is_locked_not_unreachable(database_url: str) -> None:
    engine = create_engine(database_url)
    probes = Probes(engine=engine, timeout=1.0)
    try:
        await probes.check()
        assert probes.database_reason is None and probes.database_ok
        if not database_url.startswith("postgresql"):
            return  # SQLite: nothing waits on a row lock; readers never block
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id int PRIMARY KEY, n int)"))
            await conn.execute(text("INSERT INTO t VALUES (1, 0)"))
        holder = await engine.connect()
        await holder.begin()
        await holder.execute(text("UPDATE t SET n = 1 WHERE id = 1"))
        waiter = asyncio.create_task(_update(engine))
        await asyncio.sleep(0.3)
        await probes.check()
        reason = probes.database_reason or ""
        assert reason.startswith("database locked: 1 session(s) waiting for a lock held by"), reason
        assert "unreachable" not in reason
        await holder.rollback()
        await holder.close()
        await waiter
        await probes.check()
        assert probes.database_reason is None
    finally:
        await probes.close()
        await engine.dispose()


async def _update(engine: object) -> None:
    async with engine.begin() as conn:  # type: ignore[attr-defined]
        await conn.execute(text("UPDATE t SET n = 2 WHERE id = 1"))


async def test_an_unreachable_database_is_named_so() -> None:
    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    probes = Probes(engine=engine, timeout=1.0)
    try:
        await probes.check()
        assert (probes.database_reason or "").startswith("database unreachable (")
    finally:
        await probes.close()
        await engine.dispose()
