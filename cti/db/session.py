"""Async engine and session factory; plain sqlite:// and postgresql:// URLs get async drivers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool

#: drivers people type (or copy from other tools) -> the async driver we ship
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "postgresql+pg8000": "postgresql+asyncpg",
}

#: seconds a SQLite writer waits for another writer's lock before "database is locked"
SQLITE_BUSY_TIMEOUT = 30.0


def normalize_url(url: str | URL) -> URL:
    """`sqlite:///x.db` -> `sqlite+aiosqlite:///x.db`, `postgresql://` -> `postgresql+asyncpg://`."""
    parsed = make_url(url) if isinstance(url, str) else url
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def render_url(url: str | URL) -> str:
    """The normalized URL as a string, password included (for handing to another engine)."""
    return normalize_url(url).render_as_string(hide_password=False)


def is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def postgres_timeouts(
    *, statement: float = 0.0, lock: float = 0.0, idle_in_transaction: float = 0.0
) -> dict[str, Any]:
    """`connect_args` for asyncpg that set PostgreSQL's own per-session timeouts (seconds; 0 off):
    the server, not the client, ends a runaway statement, a lock wait, or a transaction left
    open by a paused process, so one stuck session cannot hold the others' locks for ever."""
    settings = {
        "statement_timeout": statement,
        "lock_timeout": lock,
        "idle_in_transaction_session_timeout": idle_in_transaction,
    }
    return {"server_settings": {k: str(int(v * 1000)) for k, v in settings.items() if v > 0}}


def create_engine(url: str | URL, *, echo: bool = False, **kwargs: Any) -> AsyncEngine:
    """An async engine for `url`; for SQLite, WAL journaling and foreign keys on every connection.

    Extra keyword arguments go to `sqlalchemy.ext.asyncio.create_async_engine` and win over the
    defaults chosen here. Dispose the engine (`await engine.dispose()`) when done.
    """
    parsed = normalize_url(url)
    options: dict[str, Any] = {"echo": echo}
    pool: dict[str, Any] = {}
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        # a busy timeout: a second writer waits for the lock instead of failing at once
        options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT}
        if is_sqlite_memory(parsed):
            # each connection would get its own empty database; keep one connection instead
            options["poolclass"] = StaticPool
        else:
            pool.update(pool_size=5, max_overflow=5, pool_timeout=30)  # one file, one writer
    elif backend == "postgresql":
        pool.update(
            pool_size=5,
            max_overflow=10,
            pool_timeout=30,
            pool_recycle=1800,  # under the idle timeouts of pgbouncer/NAT boxes
            pool_pre_ping=True,  # a restarted server costs one retry, not one failed request
        )
    if "poolclass" not in kwargs:  # sizing options suit the default queue pool only
        options.update(pool)
    options.update(kwargs)
    engine = create_async_engine(parsed, **options)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # the sqlite3 module's own transaction handling neither begins a transaction before DDL nor
    # honours SAVEPOINT: switch it off and emit BEGIN ourselves (see _sqlite_on_begin), so a
    # migration or a batch of calls is all-or-nothing (SQLAlchemy docs, "pysqlite/aiosqlite
    # serializable isolation / savepoints / transactional DDL")
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; far fewer fsyncs
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    immediate = connection.get_execution_options().get(_SQLITE_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_SQLITE_IMMEDIATE = "cti_sqlite_begin_immediate"


@asynccontextmanager
async def writing(sessions: Callable[[], AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A transaction that reads, then writes what it read (a PATCH, resolving a callback).

    On SQLite it takes the write lock at BEGIN (IMMEDIATE), waiting its turn behind other
    writers: a deferred transaction that reads and then writes after another connection
    committed fails at once with "database is locked", which no busy timeout helps. Read-only
    sessions opened meanwhile are not blocked (WAL). PostgreSQL: an ordinary transaction.
    """
    async with sessions() as session, session.begin():
        await lock_for_writing(session)
        yield session


async def lock_for_writing(session: AsyncSession) -> None:
    """Call first in a transaction that will write: on SQLite, BEGIN IMMEDIATE (the write lock
    now, waiting up to the busy timeout behind another writer), so what it reads first cannot
    turn into "database is locked" when it writes after another connection committed."""
    if session.get_bind().dialect.name == "sqlite":
        await session.connection(execution_options={_SQLITE_IMMEDIATE: True})


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions bound to `engine`; objects stay usable after commit (no lazy reloads in async)."""
    return async_sessionmaker(engine, expire_on_commit=False)


__all__ = [
    "create_engine",
    "lock_for_writing",
    "normalize_url",
    "render_url",
    "session_factory",
    "writing",
]
