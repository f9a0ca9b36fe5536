"""Shared fixtures: `database_url` runs a test against SQLite and against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NoReturn

import hypothesis  # noqa: F401  imported early: CPython 3.11.7 can fail to compile it late (gh-106905)
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from cti.db.session import create_engine, normalize_url

#: the PostgreSQL the integration tests use (trust auth); each test gets its own fresh database
POSTGRES_URL = os.environ.get(
    "CTI_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
_CONNECT_TIMEOUT = 5.0


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database's URL: a temp SQLite file, or a new PostgreSQL database dropped after.

    PostgreSQL unreachable: the test fails when CI is set (never a silent skip there), else skips.
    """
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'cti.db'}"
        return
    async with _fresh_postgres_database() as url:
        yield url


@asynccontextmanager
async def _fresh_postgres_database() -> AsyncIterator[str]:
    """CREATE DATABASE cti_test_<random>, yield its URL, DROP DATABASE ... WITH (FORCE).

    A database per test (rather than one shared database with its tables dropped) keeps tests
    isolated even when several test runs use the same server at the same time.
    """
    admin_url = normalize_url(POSTGRES_URL)
    name = f"cti_test_{uuid.uuid4().hex[:16]}"
    await _admin(admin_url, f'CREATE DATABASE "{name}"', connecting=True)
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(admin_url: URL, sql: str, *, connecting: bool = False) -> None:
    engine = create_engine(
        admin_url,
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={"timeout": _CONNECT_TIMEOUT},
    )
    try:
        failure: BaseException | None = None
        try:
            conn = await asyncio.wait_for(engine.connect(), _CONNECT_TIMEOUT * 2)
        except (OSError, TimeoutError, sa_exc.DBAPIError) as error:
            if not connecting:
                raise
            failure = error
        if failure is not None:
            _unreachable(failure)  # outside the except: one clear message, no chained traceback
        try:
            await conn.execute(text(sql))
        finally:
            await conn.close()
    finally:
        await engine.dispose()


def _unreachable(error: BaseException) -> NoReturn:
    shown = make_url(POSTGRES_URL).render_as_string(hide_password=True)
    reason = (
        f"PostgreSQL at {shown} is unreachable ({error.__class__.__name__}: {error}); "
        "start it or set CTI_TEST_POSTGRES_URL"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so PostgreSQL tests may not be skipped: {reason}", pytrace=False)
    pytest.skip(reason)
