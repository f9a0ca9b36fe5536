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


async def test_customer_import_is_not_refused_when_the_server_writes_meanwhile(
    database_url: str,
) -> None:
    """`cti import customers` reads (the agents' logins, the known customers) before it writes;
    the server commits finished calls all the while. On SQLite a deferred transaction that read
    before another connection committed could not write any more: "database is locked"."""
    from cti.customers import importing
    from cti.customers.service import CustomerService
    from cti.db import bulk
    from cti.db.migrate import upgrade

    await upgrade(database_url)
    importer, server = create_engine(database_url), create_engine(database_url)
    try:
        async with server.begin() as conn:
            await conn.execute(text("CREATE TABLE server_writes (id INTEGER PRIMARY KEY)"))
        server_writes: list[asyncio.Task[None]] = []

        async def server_write(n: int) -> None:
            async with server.begin() as conn:
                await conn.execute(text("INSERT INTO server_writes VALUES (:n)"), {"n": n})

        async def validate_while_the_server_writes(kind, records, rules):  # type: ignore[no-untyped-def]
            # the server's call writer commits between the import's reads and its writes (or,
            # once the import holds the write lock, waits its turn: then this returns at 1 s)
            task = asyncio.create_task(server_write(len(server_writes)))
            server_writes.append(task)
            await asyncio.wait({task}, timeout=1.0)
            return await bulk.validate_here(kind, records, rules)

        service = CustomerService(
            sessions=session_factory(importer), region="RU", office_timezone="Europe/Moscow"
        )
        rows = ["external_id,name,phones"] + [f"c{n},Клиент {n},+7916{n:07d}" for n in range(30)]
        report = await service.import_csv(
            importing.CUSTOMERS,
            rows,
            actor="test",
            validator=validate_while_the_server_writes,
            chunk=10,
        )
        assert not report.rejected
        await asyncio.gather(*server_writes)  # the server's writes waited, none was refused
        async with importer.connect() as conn:
            customers = (await conn.execute(text("SELECT count(*) FROM customers"))).scalar_one()
            written = (await conn.execute(text("SELECT count(*) FROM server_writes"))).scalar_one()
        assert (customers, written) == (30, len(server_writes))
        assert len(server_writes) >= 2
    finally:
        await importer.dispose()
        await server.dispose()
