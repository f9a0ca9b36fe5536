"""Alembic env.py for `alembic` run in the repository; the logic is in `cti.db.migrate.run_env`."""

from logging.config import fileConfig

from alembic import context
from cti.db.migrate import run_env

if context.config.config_file_name is not None:
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)

run_env()
