"""Run the Alembic migrations shipped in `cti/db/migrations` (programmatically or from env.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.pool import NullPool

from alembic import command
from cti.db.models import Base
from cti.db.session import create_engine, normalize_url, render_url

log = logging.getLogger(__name__)

#: the migration scripts (env.py, versions/) ship inside the package, so an installed
#: (non-editable) cti can migrate its database; the repo's alembic.ini points here too
MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic config for the packaged scripts; `database_url` travels in `attributes`."""
    cfg = Config()
    # ConfigParser interpolates '%': double it in the path, and keep the URL out of the options
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if database_url is not None:
        cfg.attributes["url"] = database_url
    return cfg


async def upgrade(database_url: str, revision: str = "heads") -> None:
    """`alembic upgrade head` against `database_url`; a database already at head is left alone."""
    await _run_with_connection(database_url, lambda cfg: command.upgrade(cfg, revision))


async def downgrade(database_url: str, revision: str = "base") -> None:
    """`alembic downgrade <revision>` (default: everything, back to an empty database)."""
    await _run_with_connection(database_url, lambda cfg: command.downgrade(cfg, revision))


async def current_revisions(database_url: str) -> frozenset[str]:
    """The revisions the database is at, one per branch (empty: never migrated)."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            heads = await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_heads()
            )
            return frozenset(heads)
    finally:
        await engine.dispose()


def head_revisions() -> frozenset[str]:
    """The newest revision of every branch among the shipped scripts (features migrate on
    branches of their own off the initial schema; `upgrade()` applies them all)."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


async def _run_with_connection(database_url: str, action: Callable[[Config], None]) -> None:
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:

            def run(sync_conn: Connection) -> None:
                cfg = alembic_config(database_url)
                cfg.attributes["connection"] = sync_conn
                action(cfg)

            await conn.run_sync(run)
    finally:
        await engine.dispose()


# --- called from env.py (ours in cti/db/migrations, and the repo's alembic/env.py) -------------


def run_env() -> None:
    """The body of Alembic's env.py: offline SQL, a connection we were given, or our own engine."""
    from alembic import context

    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_migrations(connection)
        return
    url = _configured_url()
    if context.is_offline_mode():
        parsed = normalize_url(url)
        context.configure(
            url=parsed,
            target_metadata=Base.metadata,
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
            render_as_batch=parsed.get_backend_name() == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url))


def _configured_url() -> str:
    """-x url=..., else config.attributes['url'], else sqlalchemy.url, else the cti settings."""
    from alembic import context

    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or context.config.attributes.get("url")
    url = url or context.config.get_main_option("sqlalchemy.url")
    if not url:
        from cti.config import load_settings

        url = load_settings().database_url
    return render_url(url)


async def _run_online(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run_migrations)
    finally:
        await engine.dispose()


def _run_migrations(connection: Connection) -> None:
    from alembic import context

    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revisions",
    "downgrade",
    "head_revisions",
    "run_env",
    "upgrade",
]
