"""A transaction that reads and then writes is not refused because another one committed
in between (SQLite's "database is locked"): resolving a callback or saving a customer while
the call writer commits."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from cti.db.session import create_engine, session_factory, writing


async def test_read_then_write_waits_its_turn_instead_of_failing(database_url: str) -> None:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)"))
            await conn.execute(text("INSERT INTO counter VALUES (1, 0)"))

        async def increment(pause: float) -> None:
            async with writing(sessions) as session:
                n = (await session.execute(text("SELECT n FROM counter"))).scalar_one()
                await asyncio.sleep(pause)  # the other transaction commits meanwhile
                await session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

        await asyncio.gather(increment(0.3), increment(0.05))

        async with sessions() as session:
            n = (await session.execute(text("SELECT n FROM counter"))).scalar_one()
        # SQLite serializes the two (2); PostgreSQL's read committed lets both write (1 or 2)
        assert n == 2 if engine.dialect.name == "sqlite" else n in (1, 2)
    finally:
        await engine.dispose()


async def test_reading_is_not_blocked_by_a_writer(database_url: str) -> None:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        async with writing(sessions) as writer:
            await writer.execute(text("INSERT INTO t VALUES (1)"))
            async with sessions() as reader:  # e.g. the directory looked up inside the writer
                seen = (
                    await asyncio.wait_for(reader.execute(text("SELECT count(*) FROM t")), 5)
                ).scalar_one()
        assert seen == 0
    finally:
        await engine.dispose()
